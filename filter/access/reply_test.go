package access

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		act  action
		want *filter.Reply
	}{
		{"550 5.7.1 Go away", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"Go away"}}},
		{"554 Go away", actReject, &filter.Reply{Code: 554, Enhanced: "5.7.1", Lines: []string{"Go away"}}},
		{"450 4.7.25 Try later", actTempFail, &filter.Reply{Code: 450, Enhanced: "4.7.25", Lines: []string{"Try later"}}},
		{"421 Try later", actTempFail, &filter.Reply{Code: 421, Enhanced: "4.7.1", Lines: []string{"Try later"}}},
		{"550", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{""}}},
		{"550 5.1.1", actReject, &filter.Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{""}}},
		{"550 3 strikes", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"3 strikes"}}},
		{"550 5.7.1 one\ntwo\n", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two"}}},
		{"550-5.7.1 one\r\n550 5.7.1 two", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two"}}},
		{"550-5.7.1 one\n550-two\n550 three", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two", "three"}}},
		{"550 one\n\nthree", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "", "three"}}},
		{"550 5.7.1 see\thttps://example.com/why?x=1%", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"see\thttps://example.com/why?x=1%"}}},
		{"550 5.7.1 zugriff verweigert für dich", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"zugriff verweigert für dich"}}},
	}
	for _, tt := range tests {
		got, err := parseReply(tt.in, tt.act)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseReply(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseReplyErrors(t *testing.T) {
	tests := []struct {
		in   string
		act  action
		want string
	}{
		{"", actReject, `"" does not start with a three-digit reply code`},
		{"Go away", actReject, `"Go away" does not start with a three-digit reply code`},
		{"55 Go away", actReject, `"55 Go away" does not start with a three-digit reply code`},
		{"5500 Go away", actReject, `"5500 Go away" does not start with a three-digit reply code`},
		{"55x Go away", actReject, `"55x" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"560 Go away", actReject, `"560" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"650 Go away", actReject, `"650" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"450 4.7.1 Try later", actReject, "code 450 is not 5xx, as reject needs"},
		{"250 OK", actReject, "code 250 is not 5xx, as reject needs"},
		{"550 5.7.1 Go away", actTempFail, "code 550 is not 4xx, as tempfail needs"},
		{"550 4.7.1 Go away", actReject, "enhanced status code 4.7.1 does not match reply code 550 (RFC 3463 §2)"},
		{"450 5.7.1 Try later", actTempFail, "enhanced status code 5.7.1 does not match reply code 450 (RFC 3463 §2)"},
		{"550 5.7 Go away", actReject, `"5.7" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1.2 Go away", actReject, `"5.7.1.2" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1000 Go away", actReject, `"5.7.1000" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5..1 Go away", actReject, `"5..1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 55.7.1 Go away", actReject, `"55.7.1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.x.1 Go away", actReject, `"5.x.1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1 one\n551 5.7.1 two", actReject, "line 2: code 551 differs from the first line's 550"},
		{"550 5.7.1 one\n550 5.7.2 two", actReject, "line 2: enhanced status code 5.7.2 differs from the first line's 5.7.1"},
		{"550 5.7.1 one\n999 two", actReject, `line 2: "999" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"550 5.7.1 bell\a", actReject, `line 1: text contains control character '\a'`},
		{"550 5.7.1 one\ntwo\rthree", actReject, `line 2: text contains control character '\r'`},
		{"550 5.7.1 \xff", actReject, "line 1: text is not valid UTF-8"},
		{"550 5.7.1 " + strings.Repeat("x", 501), actReject, "line 1: line is 513 octets, over 512 (RFC 5321 §4.5.3.1.5)"},
		{"550 x" + strings.Repeat("\nx", 32), actReject, "33 lines, over 32"},
	}
	for _, tt := range tests {
		_, err := parseReply(tt.in, tt.act)
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseReply(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
	// The longest line that fits.
	if _, err := parseReply("550 5.7.1 "+strings.Repeat("x", 500), actReject); err != nil {
		t.Errorf("512-octet line: %v", err)
	}
}
