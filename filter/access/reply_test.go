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
		{"550 5.7.1 one\n550 two", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two"}}},
		{"550 5.7.1 one\n550 5.7.1 two", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two"}}},
		{"451 4.3.0 one\n451 two", actTempFail, &filter.Reply{Code: 451, Enhanced: "4.3.0", Lines: []string{"one", "two"}}},
		{"550 5.7.1 one\n550 4 ways", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "4 ways"}}},
		{"550 one\n550 ", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", ""}}},
		{"550 5.7.1 one\n550 two\n550 three", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "two", "three"}}},
		{"550 one\n550\n550 three", actReject, &filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"one", "", "three"}}},
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
		{"", actReject, "want a 5xx code"},
		{"", actTempFail, "want a 4xx code"},
		{"Go away", actReject, "want a 5xx code"},
		{"55 Go away", actReject, "want a 5xx code"},
		{"5500 Go away", actReject, "want a 5xx code"},
		{"55x Go away", actReject, "want a 5xx code"},
		{"5x0 no", actReject, "want a 5xx code"},
		{"560 Go away", actReject, `"560" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"460 Go away", actTempFail, `"460" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"650 Go away", actReject, "want a 5xx code"},
		{"450 4.7.1 Try later", actReject, "want a 5xx code"},
		{"250 OK", actReject, "want a 5xx code"},
		{"550 5.7.1 Go away", actTempFail, "want a 4xx code"},
		{"550 4.7.1 Go away", actReject, "enhanced code 4.7.1 does not match class 5"},
		{"554 4.7.1 no", actReject, "enhanced code 4.7.1 does not match class 5"},
		{"450 5.7.1 Try later", actTempFail, "enhanced code 5.7.1 does not match class 4"},
		{"550 5.7.1 no\n450 later", actReject, "want a 5xx code"},
		{"450 4.7.1 no\n550 later", actTempFail, "want a 4xx code"},
		{"550 5.7.1 no\n550 4.7.1 later", actReject, "enhanced code 4.7.1 does not match class 5"},
		{"550-5.7.1 one\n550 5.7.1 two", actReject, `line 1: want "550 text", without the hyphen (a multi-line reply gets its hyphens when sent)`},
		{"550 5.7.1 one\n550-two", actReject, `line 2: want "550 text", without the hyphen (a multi-line reply gets its hyphens when sent)`},
		{"550-", actReject, `line 1: want "550 text", without the hyphen (a multi-line reply gets its hyphens when sent)`},
		{"550 5.7 Go away", actReject, `"5.7" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1.2 Go away", actReject, `"5.7.1.2" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1000 Go away", actReject, `"5.7.1000" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5..1 Go away", actReject, `"5..1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 55.7.1 Go away", actReject, `"55.7.1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.x.1 Go away", actReject, `"5.x.1" is not an enhanced status code class.subject.detail (RFC 3463 §2)`},
		{"550 5.7.1 one\n551 5.7.1 two", actReject, "line 2: code 551 differs from the first line's 550"},
		{"550 5.7.1 one\n550 5.7.2 two", actReject, "line 2: enhanced status code 5.7.2 differs from the first line's 5.7.1"},
		{"550 5.7.1 one\n999 two", actReject, "want a 5xx code"},
		{"550 5.7.1 one\n590 two", actReject, `line 2: "590" is not an SMTP reply code (RFC 5321 §4.2.1)`},
		{"550 5.7.1 one\r\n550 two", actReject, `line 1: text contains control character '\r'`},
		{"550 5.7.1 bell\a", actReject, `line 1: text contains control character '\a'`},
		{"550 5.7.1 one\n550 two\rthree", actReject, `line 2: text contains control character '\r'`},
		{"550 5.7.1 one\ntwo", actReject, "want a 5xx code"},
		{"550 5.7.1 one\n", actReject, "want a 5xx code"},
		{"550 5.7.1 one\n\n550 three", actReject, "want a 5xx code"},
		{"550 5.7.1 \xff", actReject, "line 1: text is not valid UTF-8"},
		{"550 5.7.1 " + strings.Repeat("x", 501), actReject, "line 1: line is 513 octets, over 512 (RFC 5321 §4.5.3.1.5)"},
		{"550 x" + strings.Repeat("\n550 x", 32), actReject, "33 lines, over 32"},
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
