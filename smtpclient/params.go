package smtpclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// mailParamExt names, for each MAIL parameter passed through, the EHLO
// keyword the downstream must advertise for it. Others are dropped.
func mailParamExt(key string) string {
	switch key {
	case "BODY":
		return "8BITMIME" // RFC 6152
	case "SMTPUTF8":
		return "SMTPUTF8" // RFC 6531
	case "RET", "ENVID":
		return "DSN" // RFC 3461
	case "AUTH":
		return "AUTH" // RFC 4954 §5
	case "REQUIRETLS":
		return "REQUIRETLS" // RFC 8689
	case "MT-PRIORITY":
		return "MT-PRIORITY" // RFC 6710
	case "BY":
		return "DELIVERBY" // RFC 2852
	}
	return ""
}

// rcptParamExt is mailParamExt for RCPT parameters.
func rcptParamExt(key string) string {
	switch key {
	case "NOTIFY", "ORCPT":
		return "DSN" // RFC 3461
	case "RRVS":
		return "RRVS" // RFC 7293
	}
	return ""
}

// mailLine renders MAIL FROM with SIZE (when advertised) and the sender's
// parameters the downstream can take. smtputf8 false drops SMTPUTF8.
func (s *session) mailLine(m *envelope.Delivery, smtputf8 bool) string {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + m.From.Addr + ">")
	if s.has("SIZE") && m.Size > 0 {
		b.WriteString(" SIZE=" + strconv.FormatInt(m.Size, 10))
	}
	for _, p := range m.From.Params {
		key := strings.ToUpper(p.Key)
		ext := mailParamExt(key)
		switch {
		case key == "SIZE" || ext == "" || !s.has(ext):
			continue
		case key == "SMTPUTF8" && !smtputf8, key == "AUTH" && !s.authed:
			continue
		}
		writeParam(&b, key, p.Value)
	}
	return b.String()
}

// rcptLine renders RCPT TO with the parameters the downstream can take.
func (s *session) rcptLine(a envelope.Address) string {
	var b strings.Builder
	b.WriteString("RCPT TO:<" + a.Addr + ">")
	for _, p := range a.Params {
		key := strings.ToUpper(p.Key)
		if ext := rcptParamExt(key); ext != "" && s.has(ext) {
			writeParam(&b, key, p.Value)
		}
	}
	return b.String()
}

func writeParam(b *strings.Builder, key, value string) {
	b.WriteString(" " + key)
	if value != "" {
		b.WriteString("=" + value)
	}
}

// check decides, before any command, what the downstream's extensions
// rule out, and whether SMTPUTF8 goes along.
func (s *session) check(ctx context.Context, m *envelope.Delivery) (smtputf8 bool, err error) {
	if err := checkSyntax(m); err != nil {
		return false, err
	}
	if lim := s.sizeLimit(); lim > 0 && m.Size > lim {
		return false, &failure{status: envelope.Failed, code: 552, enhanced: "5.3.4",
			text: fmt.Sprintf("message size %d exceeds the size limit %d of %s", m.Size, lim, s.cl.remote)}
	}
	if body, _ := m.From.Param("BODY"); strings.EqualFold(body, "BINARYMIME") {
		return false, &failure{status: envelope.Failed, code: 554, enhanced: "5.6.3",
			text: "BODY=BINARYMIME content cannot be relayed with DATA"}
	}
	if _, ok := m.From.Param("REQUIRETLS"); ok && !(s.tls && s.has("REQUIRETLS")) {
		return false, &failure{status: envelope.Failed, code: 550, enhanced: "5.7.30",
			text: fmt.Sprintf("REQUIRETLS was requested but %s does not offer it over TLS", s.cl.remote)}
	}
	if _, ok := m.From.Param("SMTPUTF8"); !ok || s.has("SMTPUTF8") {
		return ok, nil
	}
	need, err := needsSMTPUTF8(ctx, m)
	if err != nil {
		return false, deferred("4.3.0", "cannot read queued message: %v", err)
	}
	if need {
		return false, &failure{status: envelope.Failed, code: 553, enhanced: "5.6.7",
			text: fmt.Sprintf("message needs SMTPUTF8 (non-ASCII address or header) but %s does not support SMTPUTF8", s.cl.remote)}
	}
	return false, nil // declared SMTPUTF8 but all ASCII: deliver without
}

// checkSyntax refuses envelope data that would break the command lines:
// control characters anywhere, angle brackets outside a quoted local
// part, parameters that are not RFC 5321 esmtp-keyword[=esmtp-value].
func checkSyntax(m *envelope.Delivery) error {
	ctl := func(s string) bool { return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) }
	addrs := append([]envelope.Address{m.From}, m.To...)
	for _, a := range addrs {
		if ctl(a.Addr) || strings.ContainsAny(a.Addr, "<>") && !strings.Contains(a.Addr, "\"") {
			return &failure{status: envelope.Failed, enhanced: "5.1.3", text: fmt.Sprintf("invalid address %q", a.Addr)}
		}
		for _, p := range a.Params {
			if !esmtpKeyword(p.Key) || ctl(p.Value) || strings.ContainsAny(p.Value, " =") {
				return &failure{status: envelope.Failed, enhanced: "5.5.4", text: fmt.Sprintf("invalid parameter %q of <%s>", p.Key, a.Addr)}
			}
		}
	}
	return nil
}

// esmtpKeyword reports whether s is (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func esmtpKeyword(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-') {
			return false
		}
	}
	return s != ""
}

// needsSMTPUTF8 reports whether an envelope address or the header section
// holds a non-ASCII byte (RFC 6531, RFC 6532).
func needsSMTPUTF8(ctx context.Context, m *envelope.Delivery) (bool, error) {
	if !ascii(m.From.Addr) {
		return true, nil
	}
	for _, a := range m.To {
		if !ascii(a.Addr) {
			return true, nil
		}
	}
	rc, err := m.Open(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	atStart := true // at the start of a line
	for {
		line, err := r.ReadSlice('\n')
		if !asciiBytes(line) {
			return true, nil
		}
		if atStart && err == nil && (string(line) == "\r\n" || string(line) == "\n") {
			return false, nil // the empty line that ends the header section
		}
		switch err {
		case nil:
			atStart = true
		case bufio.ErrBufferFull:
			atStart = false
		case io.EOF:
			return false, nil
		default:
			return false, err
		}
	}
}

func ascii(s string) bool { return asciiBytes([]byte(s)) }

func asciiBytes(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
