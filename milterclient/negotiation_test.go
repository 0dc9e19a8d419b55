package milterclient_test

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

// packetLog records the packets of a session through Options.Trace.
type packetLog struct{ sent, received []string }

func (p *packetLog) trace(tr milterclient.Trace) {
	if m, ok := tr.Command.(milter.Macro); ok {
		p.sent = append(p.sent, fmt.Sprintf("SMFIC_MACRO(%c)", m.Stage))
	} else if tr.Command != nil {
		p.sent = append(p.sent, milter.CommandName(tr.Command.Code()))
	} else {
		p.received = append(p.received, milter.ResponseName(tr.Response.Code()))
	}
}

// Stages the milter skips are not sent (their macros are), stages it does
// not answer are not waited for, and a verdict it gives there anyway is
// never seen.
func TestMiltersrvSkipAndNoReply(t *testing.T) {
	rec := &recorder{
		needs: filter.Needs{
			Skip:    filter.Stages(filter.StageHelo, filter.StageData, filter.StageUnknown),
			NoReply: filter.Stages(filter.StageConnect, filter.StageRcpt, filter.StageHeader, filter.StageBody),
		},
		verdicts: map[filter.Stage]filter.Verdict{filter.StageRcpt: filter.Reject, filter.StageHeader: filter.Reject},
	}
	var pl packetLog
	c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{}), Trace: pl.trace})
	e := newEngine(t, c)
	e.macros.Set("{tls_version}", "TLSv1.3")
	m := sampleMessage()
	m.unknown = "FOO"
	mod := filter.NewModifier(filter.AllEdits, nil)
	for _, st := range e.steps(m, mod) {
		if v := st.run(); v != filter.Continue {
			t.Fatalf("%v = %v, want continue", st.stage, v)
		}
	}
	neg, ok := e.sess.(*milterclient.Session).Negotiated()
	e.close()
	wantProto := milter.ProtoNoHelo | milter.ProtoNoData | milter.ProtoNoUnknown | milter.ProtoNRConnect |
		milter.ProtoNRRcpt | milter.ProtoNRHeader | milter.ProtoNRBody | milter.ProtoSkip
	if !ok || neg.Version != 6 || neg.Protocol != wantProto || neg.Actions != 0 || neg.Macros != nil {
		t.Errorf("negotiated %+v (%v), want version 6, protocol %v, no actions", neg, ok, wantProto)
	}
	wantSent := []string{"SMFIC_OPTNEG",
		"SMFIC_MACRO(C)", "SMFIC_CONNECT", // no reply
		"SMFIC_MACRO(H)",               // HELO's macros; HELO itself is skipped
		"SMFIC_MACRO(M)", "SMFIC_MAIL", // first reply awaited
		"SMFIC_MACRO(R)", "SMFIC_RCPT", "SMFIC_MACRO(T)", "SMFIC_HEADER", "SMFIC_HEADER", "SMFIC_MACRO(N)", "SMFIC_EOH",
		"SMFIC_BODY", "SMFIC_MACRO(E)", "SMFIC_BODYEOB", "SMFIC_QUIT"}
	wantReceived := []string{"SMFIC_OPTNEG", "SMFIR_CONTINUE", "SMFIR_CONTINUE", "SMFIR_CONTINUE"}
	if !reflect.DeepEqual(pl.sent, wantSent) || !reflect.DeepEqual(pl.received, wantReceived) {
		t.Errorf("sent %v\nwant %v\nreceived %v\nwant %v", pl.sent, wantSent, pl.received, wantReceived)
	}
	want := []string{"connect client.test 4 192.0.2.7:40000", "mail <a@example.com> SIZE=100 BODY=8BITMIME",
		"rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE", `header From:"a@example.com"`, `header Subject:"hi"`,
		"eoh", `body "hello\r\n"`, "eom", "close"}
	if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls, want) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(want))
	}
}

func TestMiltersrvMacros(t *testing.T) {
	noted := map[filter.Stage][]string{
		filter.StageConnect:      {"j", "{daemon_name}", "v", "_", "{client_addr}"},
		filter.StageMail:         {"i", "{mail_addr}", "{rcpt_addr}"},
		filter.StageRcpt:         {"i", "{rcpt_addr}"},
		filter.StageEndOfMessage: {"i", "{mail_addr}"},
	}
	tests := []struct {
		name       string
		filterWant map[filter.Stage][]string // the milter's SMFIR_SETSYMLIST
		clientList map[filter.Stage][]string // Options.Macros
		want       []string
	}{
		{"Postfix defaults", nil, nil, []string{
			"connect client.test 4 192.0.2.7:40000 j=mx.test {daemon_name}=sluice v=sluice 1 _=client.test [192.0.2.7]",
			"mail <a@example.com> i=QID1 {mail_addr}=a@example.com",
			"rcpt <b@example.org> i=QID1 {rcpt_addr}=b@example.org",
			"eom i=QID1 {mail_addr}=a@example.com",
		}},
		{"the milter's lists", map[filter.Stage][]string{
			filter.StageConnect:      {"{client_addr}"},
			filter.StageMail:         {"{mail_addr}"},
			filter.StageEndOfMessage: {"i"},
		}, nil, []string{
			"connect client.test 4 192.0.2.7:40000 j=mx.test {client_addr}=192.0.2.7", // j: miltersrv reads it itself
			"mail <a@example.com> {mail_addr}=a@example.com",
			"rcpt <b@example.org> i=QID1 {rcpt_addr}=b@example.org", // not named: the defaults
			"eom i=QID1 {mail_addr}=a@example.com",
		}},
		{"per-milter lists", nil, map[filter.Stage][]string{
			filter.StageConnect: {"client_addr"},
			filter.StageMail:    {"i"},
		}, []string{
			"connect client.test 4 192.0.2.7:40000 {client_addr}=192.0.2.7",
			"mail <a@example.com> i=QID1",
			"rcpt <b@example.org> i=QID1",
			"eom i=QID1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{needs: filter.Needs{Macros: tt.filterWant}, macros: noted}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{}), Macros: tt.clientList})
			e := newEngine(t, c)
			m := sampleMessage()
			m.from.Params, m.rcpts[0].Params, m.headers, m.body = nil, nil, nil, nil
			e.connect(m)
			e.transaction(m)
			neg, _ := e.sess.(*milterclient.Session).Negotiated()
			e.close()
			var got []string
			for _, c := range rec.waitCalls(t, "close") {
				if strings.HasPrefix(c, "connect") || strings.HasPrefix(c, "mail") || strings.HasPrefix(c, "rcpt") || strings.HasPrefix(c, "eom") {
					got = append(got, c)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("calls:%s\nwant:%s", lines(got), lines(tt.want))
			}
			if tt.filterWant != nil {
				wantNeg := map[filter.Stage][]string{}
				for st, names := range tt.filterWant {
					wantNeg[st] = names
				}
				wantNeg[filter.StageConnect] = append(wantNeg[filter.StageConnect], "j") // asked by miltersrv itself
				if !reflect.DeepEqual(neg.Macros, wantNeg) {
					t.Errorf("negotiated macros %v, want %v", neg.Macros, wantNeg)
				}
			}
		})
	}
}

// Body chunks of any size are gathered into packets of the agreed size.
func TestMiltersrvBodyChunking(t *testing.T) {
	const size = 2<<20 + 12345
	tests := []struct {
		name      string
		serverMax int
		offer     milter.ProtoFlags
		chunk     int
	}{
		{"64 KiB", 0, 0, milter.ChunkSize},
		{"MDS_1M", 2 << 20, 0, milter.ChunkSize1M},
		{"MDS_256K", 2 << 20, milter.ProtoAll | milter.ProtoMDS256K, milter.ChunkSize256K},
		{"not offered", 2 << 20, milter.ProtoAll, milter.ChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{MaxPacket: tt.serverMax}), Protocol: tt.offer})
			e := newEngine(t, c)
			m := sampleMessage()
			m.headers, m.body, m.chunk = nil, repeatBody(size), 4000
			e.connect(m)
			if o := e.transaction(m); o.verdict != filter.Continue {
				t.Fatalf("%v at %v", o.verdict, o.stage)
			}
			e.close()
			var want []string
			for n := size; n > 0; n -= tt.chunk {
				want = append(want, fmt.Sprintf("body len=%d", min(n, tt.chunk)))
			}
			var got []string
			for _, c := range rec.waitCalls(t, "close") {
				if strings.HasPrefix(c, "body") {
					got = append(got, c)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("chunks %v, want %v", got, want)
			}
		})
	}
}

// A recipient the MTA rejected reaches only a milter that asked for it.
func TestMiltersrvRejectedRecipients(t *testing.T) {
	for _, wants := range []bool{false, true} {
		t.Run(fmt.Sprint("RCPT_REJ=", wants), func(t *testing.T) {
			rec := &recorder{needs: filter.Needs{RejectedRecipients: wants}}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
			e := newEngine(t, c)
			m := sampleMessage()
			e.connect(m)
			e.sess.Mail(e.ctx, m.from)
			e.macros.Set("{rcpt_mailer}", "error")
			if v := e.sess.Rcpt(e.ctx, envelope.Address{Addr: "nobody@example.org"}); v != filter.Continue {
				t.Fatalf("rejected RCPT = %v", v)
			}
			e.macros.Set("{rcpt_mailer}", "smtp")
			e.sess.Rcpt(e.ctx, envelope.Address{Addr: "b@example.org"})
			e.close()
			want := []string{"rcpt <b@example.org>", "close"}
			if wants {
				want = append([]string{"rcpt <nobody@example.org>"}, want...)
			}
			if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls[3:], want) {
				t.Errorf("calls:%s\nwant …%s", lines(calls), lines(want))
			}
		})
	}
}

// Header values reach the milter with or without their leading space as
// it asked, and its header edits come back with the space either way.
func TestMiltersrvHeaderLeadingSpace(t *testing.T) {
	for _, lead := range []bool{false, true} {
		t.Run(fmt.Sprint("HDR_LEADSPC=", lead), func(t *testing.T) {
			value := "v"
			if lead {
				value = " v"
			}
			rec := &recorder{
				needs: filter.Needs{HeaderLeadingSpace: lead, Edits: filter.EditAddHeader},
				eom:   func(m *filter.Modifier) { must(t, m.AddHeader("X-A", value)) },
			}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
			e := newEngine(t, c)
			m := sampleMessage()
			m.headers = [][2]string{{"Subject", "  two spaces\r\n\tfolded"}, {"X-Tab", "\ttab"}}
			e.connect(m)
			o := e.transaction(m)
			e.close()
			want := []filter.Edit{{Kind: filter.AddHeader, Name: "X-A", Value: " v"}}
			if !reflect.DeepEqual(o.edits, want) {
				t.Errorf("edits %v, want %v", o.edits, want)
			}
			wantHeaders := []string{`header Subject:" two spaces\r\n\tfolded"`, `header X-Tab:"\ttab"`}
			if lead {
				wantHeaders[0] = `header Subject:"  two spaces\r\n\tfolded"`
			}
			var got []string
			for _, c := range rec.waitCalls(t, "close") {
				if strings.HasPrefix(c, "header") {
					got = append(got, c)
				}
			}
			if !reflect.DeepEqual(got, wantHeaders) {
				t.Errorf("headers %q, want %q", got, wantHeaders)
			}
		})
	}
}

// The client reaches milters over unix, inet and inet6 sockets, and
// reports each kind of client connection.
func TestSocketsAndConnectFacts(t *testing.T) {
	dir := t.TempDir()
	unixPath := filepath.Join(dir, "milter.sock")
	tests := []struct {
		name    string
		network string
		listen  string
		conn    *envelope.Conn
		want    string
	}{
		{"unix socket, IPv4 client", "unix", unixPath, sampleConn(), "connect client.test 4 192.0.2.7:40000"},
		{"inet, IPv6 client", "tcp4", "127.0.0.1:0", &envelope.Conn{ClientName: "six.test",
			ClientAddr: netip.MustParseAddrPort("[2001:db8::1]:2525")}, "connect six.test 6 [2001:db8::1]:2525"},
		{"inet6, unix client", "tcp6", "[::1]:0", &envelope.Conn{ClientPath: "/run/smtp.sock"}, "connect unknown L /run/smtp.sock"},
		{"unknown client, no name", "tcp4", "127.0.0.1:0", &envelope.Conn{ClientAddr: netip.MustParseAddrPort("198.51.100.2:1")},
			"connect [198.51.100.2] 4 198.51.100.2:1"},
		{"mapped IPv4", "tcp4", "127.0.0.1:0", &envelope.Conn{ClientName: "m.test",
			ClientAddr: netip.MustParseAddrPort("[::ffff:192.0.2.9]:7")}, "connect m.test 4 192.0.2.9:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen(tt.network, tt.listen)
			if err != nil {
				t.Skipf("cannot listen on %s %s: %v", tt.network, tt.listen, err)
			}
			rec := &recorder{}
			srv := miltersrv.New(rec, miltersrv.Options{Logger: quietLogger()})
			go srv.Serve(l)
			defer srv.Close()
			addr := "unix:" + tt.listen
			if tt.network != "unix" {
				a := l.Addr().(*net.TCPAddr)
				kind := "inet"
				if tt.network == "tcp6" {
					kind = "inet6"
				}
				addr = fmt.Sprintf("%s:%d@%s", kind, a.Port, a.IP)
			}
			c := newClient(t, milterclient.Options{Address: addr})
			e := newEngine(t, c)
			if v := e.sess.Connect(e.ctx, tt.conn); v != filter.Continue {
				t.Fatalf("connect = %v (%v)", v, e.sess.(*milterclient.Session).Err())
			}
			e.close()
			if calls := rec.waitCalls(t, "close"); calls[0] != tt.want {
				t.Errorf("connect call %q, want %q", calls[0], tt.want)
			}
		})
	}
}

// Negotiate asks a running milter what it wants.
func TestNegotiate(t *testing.T) {
	rec := &recorder{needs: filter.Needs{
		Skip:   filter.Stages(filter.StageHelo),
		Edits:  filter.EditAddHeader | filter.EditQuarantine,
		Macros: map[filter.Stage][]string{filter.StageMail: {"{auth_authen}", "i"}},
	}}
	c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
	got, err := c.Negotiate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := milterclient.Negotiation{
		Version:  6,
		Actions:  milter.ActAddHeader | milter.ActQuarantine | milter.ActSetSymList,
		Protocol: milter.ProtoNoHelo | milter.ProtoSkip,
		Macros:   map[filter.Stage][]string{filter.StageMail: {"{auth_authen}", "i"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Negotiate() = %+v, want %+v", got, want)
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Errorf("the filter saw %q", calls)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := inetAddr(l)
	l.Close()
	c = newClient(t, milterclient.Options{Name: "gone", Address: addr})
	if _, err := c.Negotiate(t.Context()); err == nil || !strings.HasPrefix(err.Error(), "milter gone: connecting to "+addr) {
		t.Errorf("Negotiate() on a closed port: %v", err)
	}
}
