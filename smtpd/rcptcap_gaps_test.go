package smtpd

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// namedFilter gives a test filter a name for logs.
type namedFilter struct {
	*recFilter
	name string
}

func (f namedFilter) Name() string { return f.name }

// rcptEditor is a filter that adds and then deletes recipients at end of
// message.
func rcptEditor(add, del []string) *recFilter {
	return &recFilter{
		needs: filter.Needs{Edits: filter.EditAddRecipient | filter.EditDeleteRecipient},
		eom: func(m *filter.Modifier) filter.Verdict {
			for _, a := range add {
				if err := m.AddRecipient(envelope.Address{Addr: a}); err != nil {
					panic(err)
				}
			}
			for _, d := range del {
				if err := m.DeleteRecipient(d); err != nil {
					panic(err)
				}
			}
			return filter.Continue
		},
	}
}

const tooManyAdded = "451 4.5.3 Too many recipients added by content filters, try again later"

// TestFilterAddedRecipientsBounded: the recipients of the queued message,
// after the filters' edits, are bounded by MaxRecipients (3 here); beyond
// it the message is refused for now and not queued.
func TestFilterAddedRecipientsBounded(t *testing.T) {
	tests := []struct {
		name     string
		rcpts    []string
		add, del []string
		bdat     bool
		reply    string
		queued   []string
	}{
		{"up to the limit", []string{"b1@example.org", "b2@example.org"}, []string{"n1@example.org"}, nil, false,
			"250 2.0.0 Ok: queued as Q1", []string{"b1@example.org", "b2@example.org", "n1@example.org"}},
		{"beyond", []string{"b1@example.org", "b2@example.org"}, []string{"n1@example.org", "n2@example.org"}, nil, false,
			tooManyAdded, nil},
		{"beyond with BDAT", []string{"b1@example.org", "b2@example.org"}, []string{"n1@example.org", "n2@example.org"}, nil, true,
			tooManyAdded, nil},
		{"added then deleted", []string{"b1@example.org", "b2@example.org"}, []string{"n1@example.org", "n2@example.org"},
			[]string{"b1@example.org"}, false,
			"250 2.0.0 Ok: queued as Q1", []string{"b2@example.org", "n1@example.org", "n2@example.org"}},
		{"duplicates do not count", []string{"b1@example.org", "b2@example.org", "b3@example.org"}, []string{"B1@example.org"}, nil, false,
			"250 2.0.0 Ok: queued as Q1", []string{"b1@example.org", "b2@example.org", "b3@example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := baseOptions(newTestSpool(t))
			opts.MaxRecipients = 3
			opts.Filter = namedFilter{rcptEditor(tc.add, tc.del), "expander"}
			ts := startServer(t, opts)
			c := dial(t, ts.addr, "127.0.0.2")
			c.expect("220 mx.test ESMTP")
			c.ehlo("client.test")
			content := "Subject: a\r\n\r\nbody\r\n"
			if tc.bdat {
				c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
				for _, r := range tc.rcpts {
					c.do("RCPT TO:<"+r+">", "250 2.1.5 Ok")
				}
				c.do("BDAT "+strconv.Itoa(len(content))+" LAST\r\n"+content[:len(content)-2], tc.reply)
			} else if got := c.sendMessage("a@example.net", tc.rcpts, content+".\r\n"); got != tc.reply {
				t.Fatalf("end of data: %q, want %q", got, tc.reply)
			}
			c.do("QUIT", "221 2.0.0 Bye")
			msgs := ts.spool.messages()
			if tc.queued == nil {
				if len(msgs) != 0 {
					t.Fatalf("%d messages queued", len(msgs))
				}
				if left := leftoversAfterClose(t, ts); len(left) != 0 {
					t.Fatalf("drafts left: %v", left)
				}
				logs := ts.logs.String()
				if !strings.Contains(logs, `msg="smtpd: filters added too many recipients; message refused" conn=`) ||
					!strings.Contains(logs, " id=Q1 rcpts=2 edited_rcpts=4 limit=3 filter=expander") {
					t.Fatalf("no warning naming the filter in the log:\n%s", logs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("%d messages queued", len(msgs))
			}
			var got []string
			for _, r := range msgs[0].Envelope.Recipients {
				got = append(got, r.Addr)
			}
			if !reflect.DeepEqual(got, tc.queued) {
				t.Fatalf("recipients %q, want %q", got, tc.queued)
			}
		})
	}
}

// TestFilterAddedRecipientsNamesChainMember: the warning names the
// chain's members that may add recipients.
func TestFilterAddedRecipientsNamesChainMember(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxRecipients = 1
	opts.Filter = filter.NewChain(namedFilter{&recFilter{}, "quiet"},
		namedFilter{rcptEditor([]string{"n1@example.org"}, nil), "expander"})
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: a\r\n\r\n.\r\n"); got != tooManyAdded {
		t.Fatalf("end of data: %q, want %q", got, tooManyAdded)
	}
	// The session goes on.
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("QUIT", "221 2.0.0 Bye")
	if logs := ts.logs.String(); !strings.Contains(logs, " rcpts=1 edited_rcpts=2 limit=1 filter=expander\n") {
		t.Fatalf("no warning naming the filter in the log:\n%s", logs)
	}
	if n := len(ts.spool.messages()); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
}
