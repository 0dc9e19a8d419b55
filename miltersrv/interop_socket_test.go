package miltersrv

// Interop tests that use both client libraries: a unix socket, the
// connection address families, concurrent clients and progress replies.

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	dmilter "github.com/d--j/go-milter"
	emilter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/filter"
)

// Over a unix socket, each library reports the client's address family as
// the filter sees it, then runs a message tagged with its queue ID.
func TestInteropUnixSocketAndFamilies(t *testing.T) {
	tests := []struct {
		name     string
		dj       bool
		host     string
		family   byte
		port     uint16
		addr     string
		wantCall string
	}{
		{"d--j/unix", true, "localhost", 'L', 0, "/run/smtpd.sock", "connect localhost L /run/smtpd.sock"},
		{"d--j/inet6", true, "[2001:db8::7]", '6', 40001, "2001:db8::7", "connect [2001:db8::7] 6 [2001:db8::7]:40001"},
		{"d--j/unknown", true, "unknown", 'U', 0, "", "connect unknown U "},
		{"emersion/inet", false, "client.test", '4', 40000, "192.0.2.7", "connect client.test 4 192.0.2.7:40000"},
		{"emersion/inet6 with IPv6: prefix", false, "h6", '6', 25, "IPv6:2001:db8::8", "connect h6 6 [2001:db8::8]:25"},
		{"emersion/unknown", false, "unknown", 'U', 0, "", "connect unknown U "},
		// The library sends SMFIA_UNIX without the port that Sendmail sends
		// and libmilter reads, so the server, reading as libmilter does,
		// takes the path's first two bytes for the port.
		{"emersion/unix lacks the port", false, "localhost", 'L', 0, "/run/smtpd.sock", "connect localhost L un/smtpd.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{needs: filter.Needs{Edits: filter.EditAddHeader}, edit: tagQueueID}
			_, path := serveUnix(t, p, Options{})
			var err error
			if tt.dj {
				err = djUnixMessage(t, path, tt.host, tt.family, tt.port, tt.addr)
			} else {
				err = emUnixMessage(t, path, tt.host, tt.family, tt.port, tt.addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			if calls := p.Calls(); len(calls) == 0 || calls[0] != tt.wantCall {
				t.Errorf("calls = %q, want first %q", calls, tt.wantCall)
			}
		})
	}
}

func djUnixMessage(t *testing.T, path, host string, family byte, port uint16, addr string) error {
	c, _ := djClient("unix", path)
	bag := dmilter.NewMacroBag()
	s := djSession(t, c, bag)
	if a, err := s.Conn(host, dmilter.ProtoFamily(family), port, addr); err != nil || a.Type != dmilter.ActionContinue {
		return fmt.Errorf("connect: %v %v", a, err)
	}
	if a, err := s.Helo(imHelo); err != nil || a.Type != dmilter.ActionContinue {
		return fmt.Errorf("helo: %v %v", a, err)
	}
	out, err := djRun{queueID: "U1", bag: bag}.send(s)
	want := []dmilter.ModifyAction{{Type: dmilter.ActionAddHeader, HeaderName: "X-Queue-ID", HeaderValue: "U1"}}
	if err != nil || out.act != djContinue || !reflect.DeepEqual(out.mods, want) {
		return fmt.Errorf("message: %v %v %v", out.act, out.mods, err)
	}
	return nil
}

func emUnixMessage(t *testing.T, path, host string, family byte, port uint16, addr string) error {
	s, _ := emSession(t, "unix", path, emActions, emProtocol)
	if a, err := s.Conn(host, emilter.ProtoFamily(family), port, addr); err != nil || *a != emContinue {
		return fmt.Errorf("connect: %v %v", a, err)
	}
	if a, err := s.Helo(imHelo); err != nil || *a != emContinue {
		return fmt.Errorf("helo: %v %v", a, err)
	}
	out, err := emRun{macros: true, queueID: "U2"}.send(s)
	want := []emilter.ModifyAction{{Code: emilter.ActAddHeader, HeaderName: "X-Queue-ID", HeaderValue: "U2"}}
	if err != nil || out.act != emContinue || !reflect.DeepEqual(out.mods, want) {
		return fmt.Errorf("message: %+v %+v %v", out.act, out.mods, err)
	}
	return nil
}

// Several clients of both libraries at once, each with several messages:
// every message gets back the edit made from its own macros.
func TestInteropConcurrentClients(t *testing.T) {
	const perLib, messages = 4, 3
	p := &probe{needs: filter.Needs{Edits: filter.EditAddHeader}, edit: tagQueueID}
	_, addr := serve(t, p, Options{})
	var runs []func() error
	for i := range perLib {
		c, _ := djClient("tcp", addr)
		bag := dmilter.NewMacroBag()
		ds := djSession(t, c, bag)
		runs = append(runs, func() error {
			for m := range messages {
				qid := fmt.Sprintf("D%d-%d", i, m)
				out, err := djRun{connect: m == 0, queueID: qid, bag: bag}.send(ds)
				want := []dmilter.ModifyAction{{Type: dmilter.ActionAddHeader, HeaderName: "X-Queue-ID", HeaderValue: qid}}
				if err != nil || out.act != djContinue || !reflect.DeepEqual(out.mods, want) {
					return fmt.Errorf("d--j %s: %v %v %v", qid, out.act, out.mods, err)
				}
			}
			return ds.Close()
		})
		es, _ := emSession(t, "tcp", addr, emActions, emProtocol)
		runs = append(runs, func() error {
			for m := range messages {
				qid := fmt.Sprintf("E%d-%d", i, m)
				out, err := emRun{connect: m == 0, macros: true, queueID: qid}.send(es)
				want := []emilter.ModifyAction{{Code: emilter.ActAddHeader, HeaderName: "X-Queue-ID", HeaderValue: qid}}
				if err != nil || out.act != emContinue || !reflect.DeepEqual(out.mods, want) {
					return fmt.Errorf("emersion %s: %+v %+v %v", qid, out.act, out.mods, err)
				}
			}
			return es.Close()
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p.waitClosed(t, 2*perLib)
	if opened, closed := p.Sessions(); opened != 2*perLib || closed != 2*perLib {
		t.Errorf("filter sessions opened %d, closed %d; want %d", opened, closed, 2*perLib)
	}
	if errs := p.EditErrors(); len(errs) != 0 {
		t.Errorf("edit errors: %v", errs)
	}
}

// Both libraries wait through SMFIR_PROGRESS for the final reply.
func TestInteropProgressBeforeVerdict(t *testing.T) {
	p := &probe{
		needs:    filter.Needs{Edits: filter.EditQuarantine},
		verdicts: map[filter.Stage]filter.Verdict{filter.StageEndOfMessage: filter.Accept},
		edit: func(ctx context.Context, m *filter.Modifier, _ filter.Macros) []error {
			return nonNil([]error{m.Progress(ctx), m.Progress(ctx), m.Quarantine("slow")})
		},
	}
	_, addr := serve(t, p, Options{ProgressInterval: -1})
	t.Run("d--j", func(t *testing.T) {
		c, tap := djClient("tcp", addr)
		s := djSession(t, c, nil)
		out, err := djRun{connect: true}.send(s)
		wantAct := dmilter.Action{Type: dmilter.ActionAccept, SMTPCode: 250, SMTPReply: "250 accept"}
		wantMods := []dmilter.ModifyAction{{Type: dmilter.ActionQuarantine, Reason: "slow"}}
		if err != nil || out.act != wantAct || !reflect.DeepEqual(out.mods, wantMods) {
			t.Fatalf("eom: %v %v %v", out.act, out.mods, err)
		}
		if got, want := tap.Conn(t, 0).Received(), "O"+strings.Repeat("c", 12)+"ppqa"; got != want {
			t.Errorf("server replied %q, want %q", got, want)
		}
	})
	t.Run("emersion", func(t *testing.T) {
		s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
		out, err := emRun{connect: true}.send(s)
		wantMods := []emilter.ModifyAction{{Code: emilter.ActQuarantine, Reason: "slow"}}
		if err != nil || out.act != (emilter.Action{Code: emilter.ActAccept}) || !reflect.DeepEqual(out.mods, wantMods) {
			t.Fatalf("eom: %+v %+v %v", out.act, out.mods, err)
		}
		if got, want := tap.Conn(t, 0).Received(), "O"+strings.Repeat("c", 11)+"ppqa"; got != want {
			t.Errorf("server replied %q, want %q", got, want)
		}
	})
}
