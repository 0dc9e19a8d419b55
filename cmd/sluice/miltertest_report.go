package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
)

// mtReport is what milter-test prints; its JSON field names are part of
// the command's contract (documented in milterTestLong).
type mtReport struct {
	Milter      string         `json:"milter"`
	Negotiation *mtNegotiation `json:"negotiation"`
	Stages      []*mtStage     `json:"stages"`
	Edits       []mtEdit       `json:"edits"`
	Result      mtResult       `json:"result"`
	Error       string         `json:"error,omitempty"`
	Message     *mtOutMessage  `json:"message"`
	TotalMS     float64        `json:"total_ms"`
}

type mtNegotiation struct {
	Version   uint32              `json:"version"`
	Actions   []string            `json:"actions"`
	Protocol  []string            `json:"protocol"`
	Macros    map[string][]string `json:"macros,omitempty"`
	LatencyMS float64             `json:"latency_ms"`
}

type mtStage struct {
	Stage     string   `json:"stage"`
	Arg       string   `json:"arg,omitempty"`
	Macros    mtPairs  `json:"macros,omitempty"`
	Sent      bool     `json:"sent"`
	Response  string   `json:"response,omitempty"`
	Progress  int      `json:"progress,omitempty"`
	Verdict   string   `json:"verdict"`
	Reply     *mtReply `json:"reply,omitempty"`
	Error     string   `json:"error,omitempty"`
	LatencyMS float64  `json:"latency_ms"`

	latency time.Duration
}

type mtReply struct {
	Code     int      `json:"code"`
	Enhanced string   `json:"enhanced,omitempty"`
	Lines    []string `json:"lines"`

	text string // as the SMTP client sees it, CRLF between lines
}

type mtEdit struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name,omitempty"`
	Value     string   `json:"value,omitempty"`
	Index     *int     `json:"index,omitempty"`
	Address   *string  `json:"address,omitempty"`
	Params    []string `json:"params,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	BodyBytes *int64   `json:"body_bytes,omitempty"`
}

type mtResult struct {
	Verdict  string   `json:"verdict"`
	Stage    string   `json:"stage"`
	Reply    *mtReply `json:"reply,omitempty"`
	ExitCode int      `json:"exit_code"`
}

type mtOutMessage struct {
	Sender     mtAddress   `json:"sender"`
	Recipients []mtAddress `json:"recipients"`
	Quarantine string      `json:"quarantine,omitempty"`
	Headers    []mtHeader  `json:"headers"`
	Body       string      `json:"body"`
	BodyBase64 string      `json:"body_base64,omitempty"`

	raw []byte // the message as delivered
}

type mtAddress struct {
	Address string   `json:"address"`
	Params  []string `json:"params,omitempty"`
}

type mtHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// mtPairs are macro names and values, alternating, in the order sent;
// JSON renders them as an object in that order.
type mtPairs []string

func (p mtPairs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(p); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p[i])
		v, _ := json.Marshal(p[i+1])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func newMTNegotiation(n milterclient.Negotiation, d time.Duration) *mtNegotiation {
	out := &mtNegotiation{
		Version:   n.Version,
		Actions:   mtFlagNames(n.Actions.String()),
		Protocol:  mtFlagNames(n.Protocol.String()),
		LatencyMS: mtMS(d),
	}
	for st, names := range n.Macros {
		if out.Macros == nil {
			out.Macros = map[string][]string{}
		}
		out.Macros[st.String()] = names
	}
	return out
}

// mtFlagNames splits the milter package's "A|B" flag names; "0" is none.
func mtFlagNames(s string) []string {
	if s == "0" {
		return []string{}
	}
	return strings.Split(s, "|")
}

func mtReplyOf(v filter.Verdict) *mtReply {
	if v.Reply == nil {
		return nil
	}
	r := v.Reply
	return &mtReply{Code: r.Code, Enhanced: r.Enhanced, Lines: append([]string{}, r.Lines...), text: r.String()}
}

func newMTEdit(e filter.Edit) mtEdit {
	out := mtEdit{Kind: e.Kind.String(), Name: e.Name, Value: e.Value, Reason: e.Reason}
	switch e.Kind {
	case filter.InsertHeader, filter.ChangeHeader, filter.DeleteHeader:
		i := e.Index
		out.Index = &i
	case filter.AddRecipient, filter.DeleteRecipient, filter.ChangeSender:
		a := newMTAddress(e.Address)
		out.Address, out.Params = &a.Address, a.Params
	}
	return out
}

func newMTAddress(a envelope.Address) mtAddress {
	out := mtAddress{Address: a.Addr}
	for _, p := range a.Params {
		kv := p.Key
		if p.Value != "" {
			kv += "=" + p.Value
		}
		out.Params = append(out.Params, kv)
	}
	return out
}

// report renders the delivered message.
func (m *mtDelivered) report() *mtOutMessage {
	out := &mtOutMessage{Sender: newMTAddress(m.from), Recipients: []mtAddress{}, Quarantine: m.quarantine,
		Headers: []mtHeader{}, raw: m.m.render()}
	for _, a := range m.to {
		out.Recipients = append(out.Recipients, newMTAddress(a))
	}
	for _, f := range m.m.headers {
		out.Headers = append(out.Headers, mtHeader{f.Name, f.Value})
	}
	if utf8.Valid(m.m.body) {
		out.Body = string(m.m.body)
	} else {
		out.BodyBase64 = base64.StdEncoding.EncodeToString(m.m.body)
	}
	return out
}

// writeText prints the report for people; see milterTestLong.
func (r *mtReport) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "milter: %s\n", r.Milter)
	if n := r.Negotiation; n != nil {
		fmt.Fprintf(&b, "negotiated: version %d (%s)\n", n.Version, mtMSText(n.LatencyMS))
		fmt.Fprintf(&b, "  actions: %s\n", mtJoin(n.Actions, "|"))
		fmt.Fprintf(&b, "  protocol: %s\n", mtJoin(n.Protocol, "|"))
		for st := filter.StageConnect; st <= filter.StageUnknown; st++ {
			if names, ok := n.Macros[st.String()]; ok {
				fmt.Fprintf(&b, "  macros at %s: %s\n", st, mtJoin(names, " "))
			}
		}
	} else {
		b.WriteString("negotiated: no (the milter was not reached)\n")
	}
	for _, st := range r.Stages {
		st.writeText(&b)
	}
	r.writeEdits(&b)
	fmt.Fprintf(&b, "result: %s at %s (exit %d)\n", r.Result.Verdict, r.Result.Stage, r.Result.ExitCode)
	mtWriteReply(&b, r.Result.Reply)
	if r.Error != "" && !r.stageFailed() {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	r.writeMessage(&b)
	fmt.Fprintf(&b, "total: %s\n", mtMSText(r.TotalMS))
	_, err := io.WriteString(w, b.String())
	return err
}

// stageFailed reports whether a stage shows the milter's failure.
func (r *mtReport) stageFailed() bool {
	for _, st := range r.Stages {
		if st.Error != "" {
			return true
		}
	}
	return false
}

func (st *mtStage) writeText(b *strings.Builder) {
	head := st.Stage
	if st.Arg != "" {
		head += " " + mtPrintable(st.Arg)
	}
	var detail string
	switch {
	case st.Response != "":
		detail = st.Response + ", " + mtMSText(st.LatencyMS)
	case st.Sent:
		detail = "sent, no reply expected"
	default:
		detail = "not sent"
	}
	if st.Progress > 0 {
		detail += fmt.Sprintf(", %d SMFIR_PROGRESS", st.Progress)
	}
	fmt.Fprintf(b, "%s: %s (%s)\n", head, st.Verdict, detail)
	mtWriteReply(b, st.Reply)
	if st.Error != "" {
		fmt.Fprintf(b, "  error: %s\n", st.Error)
	}
	if len(st.Macros) > 0 {
		b.WriteString("  macros:")
		for i := 0; i+1 < len(st.Macros); i += 2 {
			fmt.Fprintf(b, " %s=%s", st.Macros[i], mtPrintable(st.Macros[i+1]))
		}
		b.WriteByte('\n')
	}
}

func mtWriteReply(b *strings.Builder, r *mtReply) {
	if r == nil {
		return
	}
	for _, l := range strings.Split(r.text, "\r\n") {
		fmt.Fprintf(b, "  %s\n", mtPrintable(l))
	}
}

func (r *mtReport) writeEdits(b *strings.Builder) {
	if len(r.Edits) == 0 {
		b.WriteString("edits: none\n")
		return
	}
	b.WriteString("edits:\n")
	for _, e := range r.Edits {
		fmt.Fprintf(b, "  %s\n", e.text())
	}
}

// text renders an edit on one line.
func (e mtEdit) text() string {
	addr := func() string {
		s := "<" + *e.Address + ">"
		if len(e.Params) > 0 {
			s += " " + strings.Join(e.Params, " ")
		}
		return s
	}
	switch e.Kind {
	case "addheader":
		return fmt.Sprintf("addheader %s:%s", e.Name, mtPrintable(e.Value))
	case "insheader":
		return fmt.Sprintf("insheader %d %s:%s", *e.Index, e.Name, mtPrintable(e.Value))
	case "chgheader":
		return fmt.Sprintf("chgheader %s[%d]:%s", e.Name, *e.Index, mtPrintable(e.Value))
	case "delheader":
		return fmt.Sprintf("delheader %s[%d]", e.Name, *e.Index)
	case "addrcpt", "delrcpt", "chgfrom":
		return e.Kind + " " + addr()
	case "replbody":
		return fmt.Sprintf("replbody %d bytes", *e.BodyBytes)
	case "quarantine":
		return "quarantine " + e.Reason
	}
	return e.Kind
}

func (r *mtReport) writeMessage(b *strings.Builder) {
	m := r.Message
	if m == nil {
		b.WriteString("message: not delivered\n")
		return
	}
	b.WriteString("envelope:\n")
	fmt.Fprintf(b, "  from: %s\n", mtAddrText(m.Sender))
	for _, a := range m.Recipients {
		fmt.Fprintf(b, "  to: %s\n", mtAddrText(a))
	}
	if m.Quarantine != "" {
		fmt.Fprintf(b, "  quarantine: %s\n", m.Quarantine)
	}
	b.WriteString("--- message ---\n")
	text := strings.ReplaceAll(string(m.raw), "\r\n", "\n")
	b.WriteString(text)
	if !strings.HasSuffix(text, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString("--- end of message ---\n")
}

func mtAddrText(a mtAddress) string {
	s := "<" + a.Address + ">"
	if len(a.Params) > 0 {
		s += " " + strings.Join(a.Params, " ")
	}
	return s
}

// mtPrintable shows CR, LF and tab as escapes, so a value stays on one
// line.
func mtPrintable(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`).Replace(s)
}

func mtJoin(list []string, sep string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, sep)
}

func mtMSText(ms float64) string { return fmt.Sprintf("%.3f ms", ms) }
