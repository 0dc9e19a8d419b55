package peer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Message is one mail transaction as smtp-sink dumped it.
//
// smtp-sink writes every line of the content with a bare LF and drops every
// CR byte it receives, and removes the dot-stuffing. Data puts CRLF back at
// each line end, so it is exactly the content the client sent (without the
// final "." line) when the client used CRLF line ends only. A bare LF in
// the received content reads back as CRLF and a bare CR is lost: use a
// different capture to test those.
type Message struct {
	From       string   // envelope sender without the angle brackets; "" for <>
	To         []string // recipients in RCPT order, without the angle brackets
	MailArgs   string   // the MAIL FROM: arguments, e.g. "<a@example.org> SIZE=120"
	RcptArgs   []string // the arguments of each RCPT TO:, e.g. "<b@example.net> ORCPT=rfc822;b@example.net"
	Helo       string   // argument of the last HELO/EHLO/LHLO; "" if none
	ClientAddr string   // client IP address ("ipv6:" prefix for IPv6)
	Proto      string   // SMTP, ESMTP or LMTP
	Data       []byte   // the message content, CRLF line ends
	Raw        []byte   // the whole dump file
	Path       string   // the dump file
}

// Dump record names written by smtp-sink (see smtp-sink(1), DUMP FILE FORMAT).
const (
	recClientAddr  = "X-Client-Addr: "
	recClientProto = "X-Client-Proto: "
	recHelo        = "X-Helo-Args: "
	recMail        = "X-Mail-Args: "
	recRcpt        = "X-Rcpt-Args: "
	recReceived    = "Received: "
)

// parseDump parses one single-message dump file: the X-* records, the
// three-line Received record that ends them, then the content and one
// final newline for the "." line.
func parseDump(raw []byte) (Message, error) {
	m := Message{Raw: raw}
	start := bytes.Index(raw, []byte(recClientAddr))
	if start < 0 {
		return m, errors.New("no " + strings.TrimSpace(recClientAddr) + " record")
	}
	rest := raw[start:]
	var haveMail bool
	for {
		line, tail, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return m, errors.New("records end before the Received record")
		}
		rest = tail
		s := string(line)
		if strings.HasPrefix(s, recReceived) {
			break
		}
		if err := m.setRecord(s, &haveMail); err != nil {
			return m, err
		}
	}
	if m.Proto == "" || !haveMail {
		return m, errors.New("missing X-Client-Proto or X-Mail-Args record")
	}
	for range 2 {
		line, tail, ok := bytes.Cut(rest, []byte("\n"))
		if !ok || !bytes.HasPrefix(line, []byte("\t")) {
			return m, errors.New("Received record is not three lines")
		}
		rest = tail
	}
	body, ok := bytes.CutSuffix(rest, []byte("\n"))
	if !ok {
		return m, errors.New("content does not end with the newline of the final dot")
	}
	m.Data = bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	if m.Data == nil {
		m.Data = []byte{} // empty content, but present
	}
	return m, nil
}

// setRecord stores one X-* record.
func (m *Message) setRecord(line string, haveMail *bool) error {
	switch {
	case strings.HasPrefix(line, recClientAddr):
		m.ClientAddr = line[len(recClientAddr):]
	case strings.HasPrefix(line, recClientProto):
		m.Proto = line[len(recClientProto):]
	case strings.HasPrefix(line, recHelo):
		m.Helo = line[len(recHelo):]
	case strings.HasPrefix(line, recMail):
		if *haveMail {
			return errors.New("two X-Mail-Args records")
		}
		*haveMail = true
		m.MailArgs = line[len(recMail):]
		from, err := pathAddress(m.MailArgs)
		if err != nil {
			return fmt.Errorf("X-Mail-Args: %w", err)
		}
		m.From = from
	case strings.HasPrefix(line, recRcpt):
		args := line[len(recRcpt):]
		to, err := pathAddress(args)
		if err != nil {
			return fmt.Errorf("X-Rcpt-Args: %w", err)
		}
		m.RcptArgs = append(m.RcptArgs, args)
		m.To = append(m.To, to)
	default:
		return fmt.Errorf("unexpected dump record %q", line)
	}
	return nil
}

// pathAddress returns the address of the path that starts MAIL or RCPT
// arguments: the text inside <...> (quoted strings may hold '>'), or,
// for a client that sent no brackets, the text up to the first space.
func pathAddress(args string) (string, error) {
	if !strings.HasPrefix(args, "<") {
		addr, _, _ := strings.Cut(args, " ")
		if addr == "" {
			return "", errors.New("no address")
		}
		return addr, nil
	}
	quoted := false
	for i := 1; i < len(args); i++ {
		switch c := args[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '>' && !quoted:
			return args[1:i], nil
		}
	}
	return "", fmt.Errorf("unterminated path in %q", args)
}
