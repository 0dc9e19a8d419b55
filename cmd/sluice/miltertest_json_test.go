package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// The JSON document as the command's help documents it; decoding
// disallows unknown fields, so a renamed or added field fails the tests.
type jsReport struct {
	Milter      string         `json:"milter"`
	Negotiation *jsNegotiation `json:"negotiation"`
	Stages      []jsStage      `json:"stages"`
	Edits       []jsEdit       `json:"edits"`
	Result      jsResult       `json:"result"`
	Error       string         `json:"error"`
	Message     *jsMessage     `json:"message"`
	TotalMS     float64        `json:"total_ms"`
}

type jsNegotiation struct {
	Version   uint32              `json:"version"`
	Actions   []string            `json:"actions"`
	Protocol  []string            `json:"protocol"`
	Macros    map[string][]string `json:"macros"`
	LatencyMS float64             `json:"latency_ms"`
}

type jsStage struct {
	Stage     string            `json:"stage"`
	Arg       string            `json:"arg"`
	Macros    map[string]string `json:"macros"`
	Sent      bool              `json:"sent"`
	Response  string            `json:"response"`
	Progress  int               `json:"progress"`
	Verdict   string            `json:"verdict"`
	Reply     *jsReply          `json:"reply"`
	Error     string            `json:"error"`
	LatencyMS float64           `json:"latency_ms"`
}

type jsReply struct {
	Code     int      `json:"code"`
	Enhanced string   `json:"enhanced"`
	Lines    []string `json:"lines"`
}

type jsEdit struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Value     string   `json:"value"`
	Index     *int     `json:"index"`
	Address   *string  `json:"address"`
	Params    []string `json:"params"`
	Reason    string   `json:"reason"`
	BodyBytes *int64   `json:"body_bytes"`
}

type jsResult struct {
	Verdict  string   `json:"verdict"`
	Stage    string   `json:"stage"`
	Reply    *jsReply `json:"reply"`
	ExitCode int      `json:"exit_code"`
}

type jsMessage struct {
	Sender     jsAddress   `json:"sender"`
	Recipients []jsAddress `json:"recipients"`
	Quarantine string      `json:"quarantine"`
	Headers    []jsHeader  `json:"headers"`
	Body       string      `json:"body"`
	BodyBase64 string      `json:"body_base64"`
}

type jsAddress struct {
	Address string   `json:"address"`
	Params  []string `json:"params"`
}

type jsHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// runJSON runs milter-test --json and decodes its report, with latencies
// zeroed (checked to be positive where a reply came) and stage macros
// dropped (TestMilterTestText checks them).
func runJSON(t *testing.T, dir string, args ...string) (jsReport, int) {
	t.Helper()
	r := sluice(t, dir, append([]string{"milter-test", "--json"}, args...)...)
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var rep jsReport
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Errorf("more than one JSON document:\n%s", r.stdout)
	}
	if rep.TotalMS <= 0 {
		t.Errorf("total_ms %v, want > 0", rep.TotalMS)
	}
	rep.TotalMS = 0
	if rep.Negotiation != nil {
		rep.Negotiation.LatencyMS = 0
	}
	for i := range rep.Stages {
		st := &rep.Stages[i]
		if st.Response != "" && st.LatencyMS <= 0 {
			t.Errorf("stage %d (%s): latency_ms %v with a reply, want > 0", i, st.Stage, st.LatencyMS)
		}
		st.LatencyMS, st.Macros = 0, nil
	}
	return rep, r.code
}

// sampleHeaders is the built-in sample's header section.
var sampleHeaders = []jsHeader{
	{"From", " Sender <sender@example.org>"},
	{"To", " Recipient <recipient@example.net>"},
	{"Subject", " sluice milter-test sample"},
	{"Date", " Mon, 01 Jan 2024 12:00:00 +0000"},
	{"Message-ID", " <sample@milter-test.invalid>"},
	{"MIME-Version", " 1.0"},
	{"Content-Type", " text/plain; charset=us-ascii"},
}

const sampleBody = "Hello,\r\n\r\nthis is the sample message of sluice milter-test.\r\n"

// sampleStages are the stages of the sample message, each answered
// SMFIR_CONTINUE, from index from on.
func sampleStages(from int) []jsStage {
	var out []jsStage
	add := func(stage, arg string) {
		out = append(out, jsStage{Stage: stage, Arg: arg, Sent: true, Response: "SMFIR_CONTINUE", Verdict: "continue"})
	}
	add("connect", "localhost [127.0.0.1]")
	add("helo", "localhost")
	add("mail", "<sender@example.org>")
	add("rcpt", "<recipient@example.net>")
	add("data", "")
	for _, h := range sampleHeaders {
		add("header", h.Name)
	}
	add("eoh", "")
	add("body", "61 bytes")
	add("eom", "")
	return out[from:]
}

func intp(n int) *int       { return &n }
func strp(s string) *string { return &s }
func i64p(n int64) *int64   { return &n }

// TestMilterTestJSON: the JSON report, field by field, and the exit code
// for each kind of answer.
func TestMilterTestJSON(t *testing.T) {
	refused := &jsReply{Code: 550, Enhanced: "5.7.1", Lines: []string{"Sender refused", "see https://example.org/why"}}
	noActions := &jsNegotiation{Version: 6, Actions: []string{}, Protocol: []string{"SKIP"}}
	sender := jsAddress{Address: "sender@example.org"}
	tests := []struct {
		name string
		f    *testMilter
		args []string
		want jsReport
		code int
	}{
		{"multi-line reject at mail", &testMilter{mail: func() filter.Verdict {
			return filter.CustomReply(550, "5.7.1", "Sender refused", "see https://example.org/why")
		}}, nil, jsReport{
			Negotiation: noActions,
			Stages: append(sampleStages(0)[:2], jsStage{Stage: "mail", Arg: "<sender@example.org>", Sent: true,
				Response: "SMFIR_REPLYCODE", Verdict: "reject", Reply: refused}),
			Edits:  []jsEdit{},
			Result: jsResult{Verdict: "reject", Stage: "mail", Reply: refused, ExitCode: 1},
		}, 1},

		{"tempfail at rcpt", &testMilter{rcpt: func(context.Context, envelope.Address) filter.Verdict { return filter.TempFail }},
			nil, jsReport{
				Negotiation: noActions,
				Stages: append(sampleStages(0)[:3], jsStage{Stage: "rcpt", Arg: "<recipient@example.net>", Sent: true,
					Response: "SMFIR_TEMPFAIL", Verdict: "tempfail"}),
				Edits:  []jsEdit{},
				Result: jsResult{Verdict: "tempfail", Stage: "rcpt", ExitCode: 2},
			}, 2},

		{"one recipient refused", &testMilter{rcpt: func(_ context.Context, to envelope.Address) filter.Verdict {
			if to.Addr == "no@example.net" {
				return filter.Reject
			}
			return filter.Continue
		}}, []string{"--to", "no@example.net", "--to", "recipient@example.net"}, jsReport{
			Negotiation: noActions,
			Stages: append(append(sampleStages(0)[:3], jsStage{Stage: "rcpt", Arg: "<no@example.net>", Sent: true,
				Response: "SMFIR_REJECT", Verdict: "reject"}), sampleStages(3)...),
			Edits:  []jsEdit{},
			Result: jsResult{Verdict: "continue", Stage: "eom", ExitCode: 0},
			Message: &jsMessage{Sender: sender, Recipients: []jsAddress{{Address: "recipient@example.net"}},
				Headers: sampleHeaders, Body: sampleBody},
		}, 0},

		{"discard at eom", &testMilter{eom: func(*filter.Modifier) filter.Verdict { return filter.Discard }}, nil, jsReport{
			Negotiation: noActions,
			Stages: append(sampleStages(0)[:len(sampleStages(0))-1], jsStage{Stage: "eom", Sent: true,
				Response: "SMFIR_DISCARD", Verdict: "discard"}),
			Edits:  []jsEdit{},
			Result: jsResult{Verdict: "discard", Stage: "eom", ExitCode: 1},
		}, 1},

		{"every edit", &testMilter{needs: filter.Needs{Edits: filter.AllEdits}, eom: allEdits},
			[]string{"--to", "b@example.net", "--to", "x@example.net"}, jsReport{
				Negotiation: &jsNegotiation{Version: 6, Protocol: []string{"SKIP"},
					Actions: []string{"ADDHDRS", "CHGBODY", "ADDRCPT", "DELRCPT", "CHGHDRS", "QUARANTINE", "CHGFROM", "ADDRCPT_PAR"}},
				Stages: append(append(sampleStages(0)[:3],
					jsStage{Stage: "rcpt", Arg: "<b@example.net>", Sent: true, Response: "SMFIR_CONTINUE", Verdict: "continue"},
					jsStage{Stage: "rcpt", Arg: "<x@example.net>", Sent: true, Response: "SMFIR_CONTINUE", Verdict: "continue"}),
					sampleStages(4)...),
				Edits: []jsEdit{
					{Kind: "addheader", Name: "X-Added", Value: " yes"},
					{Kind: "insheader", Name: "X-First", Value: " 1", Index: intp(0)},
					{Kind: "chgheader", Name: "Subject", Value: " changed\r\n\tand folded", Index: intp(1)},
					{Kind: "delheader", Name: "X-Drop", Index: intp(1)},
					{Kind: "addrcpt", Address: strp("c@example.org")},
					{Kind: "addrcpt", Address: strp("d@example.org"), Params: []string{"NOTIFY=NEVER"}},
					{Kind: "delrcpt", Address: strp("b@example.net")},
					{Kind: "chgfrom", Address: strp("bounce@example.com"), Params: []string{"RET=HDRS"}},
					{Kind: "replbody", BodyBytes: i64p(11)},
					{Kind: "quarantine", Reason: "looks odd: held for review"},
				},
				Result: jsResult{Verdict: "continue", Stage: "eom", ExitCode: 0},
				Message: &jsMessage{
					Sender: jsAddress{Address: "bounce@example.com", Params: []string{"RET=HDRS"}},
					Recipients: []jsAddress{{Address: "x@example.net"}, {Address: "c@example.org"},
						{Address: "d@example.org", Params: []string{"NOTIFY=NEVER"}}},
					Quarantine: "looks odd: held for review",
					Headers: append(append([]jsHeader{{"X-First", " 1"}, sampleHeaders[0], sampleHeaders[1],
						{"Subject", " changed\r\n\tand folded"}}, sampleHeaders[3:]...), jsHeader{"X-Added", " yes"}),
					Body: "New body.\r\n",
				},
			}, 0},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveMilter(t, tt.f)
			got, code := runJSON(t, dir, append([]string{addr}, tt.args...)...)
			tt.want.Milter = addr
			if code != tt.code || !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("exit %d, report:\n%s\nwant exit %d and:\n%s", code, g, tt.code, w)
			}
		})
	}
}

// TestMilterTestBroken: a milter that cannot be reached or stalls exits
// 2, with the client's default action (451 4.7.1) at the stage that
// failed and the failure named, within the --timeout.
func TestMilterTestBroken(t *testing.T) {
	dir := t.TempDir()
	tempfail := &jsReply{Code: 451, Enhanced: "4.7.1", Lines: []string{"Service unavailable - try again later"}}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		addr := fmt.Sprintf("inet:%d@127.0.0.1", port)
		msg := fmt.Sprintf("connecting to %s: dial tcp 127.0.0.1:%d: connect: connection refused", addr, port)
		got, code := runJSON(t, dir, addr)
		want := jsReport{
			Milter: addr,
			Stages: []jsStage{{Stage: "connect", Arg: "localhost [127.0.0.1]", Verdict: "tempfail", Reply: tempfail, Error: msg}},
			Edits:  []jsEdit{},
			Result: jsResult{Verdict: "tempfail", Stage: "connect", Reply: tempfail, ExitCode: 2},
			Error:  msg,
		}
		if code != 2 || !reflect.DeepEqual(got, want) {
			t.Errorf("exit %d, report %+v\nwant exit 2, %+v", code, got, want)
		}
	})

	t.Run("stalls at negotiation", func(t *testing.T) {
		addr := stallingMilter(t)
		start := time.Now()
		got, code := runJSON(t, dir, addr, "--timeout", "300ms")
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("took %v with --timeout 300ms", elapsed)
		}
		const msg = "option negotiation: no reply to SMFIC_OPTNEG within 300ms: milter: reading length prefix: read tcp "
		if code != 2 || got.Negotiation != nil || !strings.HasPrefix(got.Error, msg) ||
			got.Result != (jsResult{Verdict: "tempfail", Stage: "connect", Reply: got.Result.Reply, ExitCode: 2}) ||
			!reflect.DeepEqual(got.Result.Reply, tempfail) {
			t.Errorf("exit %d, report %+v\nwant exit 2, no negotiation, tempfail at connect and error %q…", code, got, msg)
		}
	})

	t.Run("stalls at rcpt", func(t *testing.T) {
		release := make(chan struct{})
		addr := serveMilter(t, &testMilter{rcpt: func(ctx context.Context, _ envelope.Address) filter.Verdict {
			select {
			case <-ctx.Done():
			case <-release:
			}
			return filter.Continue
		}})
		t.Cleanup(func() { close(release) }) // runs before the server's cleanup
		got, code := runJSON(t, dir, addr, "--timeout", "300ms")
		const msg = "no reply to SMFIC_RCPT within 300ms: milter: reading length prefix: read tcp "
		last := got.Stages[len(got.Stages)-1]
		if code != 2 || !strings.HasPrefix(got.Error, msg) || last.Stage != "rcpt" || last.Error != got.Error ||
			last.Verdict != "tempfail" || !reflect.DeepEqual(got.Result, jsResult{Verdict: "tempfail", Stage: "rcpt", Reply: tempfail, ExitCode: 2}) {
			t.Errorf("exit %d, report %+v\nwant exit 2, tempfail at rcpt and error %q…", code, got, msg)
		}
	})
}

// stallingMilter accepts connections and never answers; it returns its
// address.
func stallingMilter(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return fmt.Sprintf("inet:%d@127.0.0.1", l.Addr().(*net.TCPAddr).Port)
}
