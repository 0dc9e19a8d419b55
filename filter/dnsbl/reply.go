package dnsbl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/filter"
)

// maxReplyLine is the longest reply line, CRLF included (RFC 5321
// §4.5.3.1.5). An expanded reply is cut to fit.
const maxReplyLine = 512

// The default replies. "%a" is the client address, "%z" the listing
// zones.
const (
	defaultReject   = "554 5.7.1 Service unavailable; client [%a] blocked using %z"
	defaultTempFail = "451 4.7.1 Service unavailable; client [%a] blocked using %z"
	// dnsErrorReply answers a lookup failure with on_dns_error tempfail:
	// X.4.3 is "directory server failure" (RFC 3463 §3.5).
	dnsErrorReply = "451 4.4.3 Client [%a] blocklist lookup failed, try again later"
)

// template is a parsed reply: a code, an enhanced status code and a text
// with placeholders.
type template struct {
	code     int
	enhanced string
	text     string
}

// parseTemplate parses "[code [enhanced] ]text". The code, when given,
// must be of class (4 or 5) and is def's otherwise; the enhanced code
// must be of that class too and is X.7.1 when left out.
func parseTemplate(s string, def int) (template, error) {
	if !utf8.ValidString(s) {
		return template{}, errors.New("not valid UTF-8")
	}
	for _, c := range s {
		if c < ' ' && c != '\t' || c == 0x7f {
			return template{}, fmt.Errorf("contains control character %q (one line only)", c)
		}
	}
	t := template{code: def, text: s}
	if hasCode(s) {
		code, _ := strconv.Atoi(s[:3])
		if code/100 != def/100 || s[1] > '5' {
			return template{}, fmt.Errorf("code %s: want a %dxx code", s[:3], def/100)
		}
		t.code, t.text = code, strings.TrimPrefix(s[3:], " ")
	}
	t.enhanced = fmt.Sprintf("%d.7.1", t.code/100)
	if word, rest, _ := strings.Cut(t.text, " "); looksEnhanced(word) {
		if err := checkEnhanced(word, t.code/100); err != nil {
			return template{}, err
		}
		t.enhanced, t.text = word, rest
	}
	if err := checkPlaceholders(t.text); err != nil {
		return template{}, err
	}
	return t, nil
}

func hasCode(s string) bool {
	return len(s) >= 3 && strings.Trim(s[:3], "0123456789") == "" && (len(s) == 3 || s[3] == ' ')
}

func looksEnhanced(w string) bool {
	return w != "" && w[0] >= '0' && w[0] <= '9' && strings.Contains(w, ".")
}

// checkEnhanced accepts class.subject.detail of the reply's class, with
// subject and detail of one to three digits (RFC 3463 §2).
func checkEnhanced(e string, class int) error {
	parts := strings.Split(e, ".")
	bad := len(parts) != 3 || parts[0] != strconv.Itoa(class)
	for _, p := range parts {
		bad = bad || p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != ""
	}
	if bad {
		return fmt.Errorf("enhanced status code %q: want %d.x.y (RFC 3463 §2)", e, class)
	}
	return nil
}

func checkPlaceholders(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 == len(s) || !strings.ContainsRune("azr%", rune(s[i+1])) {
			return fmt.Errorf("unknown placeholder %q (want %%a, %%z, %%r or %%%%)", s[i:min(i+2, len(s))])
		}
		i++
	}
	return nil
}

// expand fills the placeholders with r's facts and cuts the text so the
// line fits in maxReplyLine octets.
func (t template) expand(r *result) *filter.Reply {
	var b strings.Builder
	for i := 0; i < len(t.text); i++ {
		c := t.text[i]
		if c != '%' || i+1 == len(t.text) {
			b.WriteByte(c)
			continue
		}
		i++
		switch t.text[i] {
		case 'a':
			b.WriteString(r.client.String())
		case 'z':
			b.WriteString(strings.Join(r.zones, ", "))
		case 'r':
			b.WriteString(strings.Join(r.codes, ", "))
		default:
			b.WriteByte(t.text[i])
		}
	}
	text := b.String()
	limit := maxReplyLine - len("550 ") - len(t.enhanced) - len(" ") - len("\r\n")
	for len(text) > limit {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}
	return &filter.Reply{Code: t.code, Enhanced: t.enhanced, Lines: []string{text}}
}
