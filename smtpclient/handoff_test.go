package smtpclient

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// TestGoSMTPHandoff: a delivered recipient's Handoff says whether the
// downstream took the DSN parameters (it advertised DSN), and otherwise
// whether it was a relay (SMTP) or the final delivery (LMTP); the RCPT
// line carries NOTIFY and ORCPT exactly when the downstream advertised
// DSN. Refused recipients carry no handoff.
func TestGoSMTPHandoff(t *testing.T) {
	tests := []struct {
		name     string
		lmtp     bool
		dsn      bool
		want     envelope.Handoff
		wantRcpt string
	}{
		{"SMTP with DSN", false, true, envelope.HandoffPassedOn, "RCPT TO:<b@example.net> NOTIFY=SUCCESS ORCPT=rfc822;b@example.net"},
		{"SMTP without DSN", false, false, envelope.HandoffRelayed, "RCPT TO:<b@example.net>"},
		{"LMTP with DSN", true, true, envelope.HandoffPassedOn, "RCPT TO:<b@example.net> NOTIFY=SUCCESS ORCPT=rfc822;b@example.net"},
		{"LMTP without DSN", true, false, envelope.HandoffFinal, "RCPT TO:<b@example.net>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &gsBackend{rcpt: func(to string) error {
				if strings.HasPrefix(to, "no") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown user"}
				}
				return nil
			}}
			network, path, scheme := "tcp", "", "smtp://"
			if tt.lmtp {
				network, path, scheme = "unix", t.TempDir()+"/lmtp.sock", "lmtp+unix:"
			}
			addr, debug := startGoSMTP(t, be, network, path, func(s *smtp.Server) {
				s.LMTP, s.EnableDSN = tt.lmtp, tt.dsn
			})
			if tt.lmtp {
				addr = path
			}
			c := newClient(t, Options{Address: scheme + addr, TLS: tls.PolicyNone})
			m := message("a@example.org", []string{"b@example.net", "no@example.net"}, testContent)
			m.To[0].Params = []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS"}, {Key: "ORCPT", Value: "rfc822;b@example.net"}}
			res := deliver(t, c, m)
			if res[0].Status != envelope.Delivered || res[0].Handoff != tt.want {
				t.Errorf("b@example.net: %v with handoff %v, want delivered with %v", res[0].Status, res[0].Handoff, tt.want)
			}
			if res[1].Status != envelope.Failed || res[1].Handoff != envelope.HandoffUnknown {
				t.Errorf("no@example.net: %v with handoff %v, want failed with none", res[1].Status, res[1].Handoff)
			}
			if log := debug.String(); !strings.Contains(log, tt.wantRcpt+"\r\n") {
				t.Errorf("server did not see %q in:\n%s", tt.wantRcpt, log)
			}
		})
	}
}
