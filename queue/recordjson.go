package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// The record file format. Bump recordVersion on an incompatible change.
const (
	recordVersion = 1
	maxRecordSize = 16 << 20 // bytes of one record file
	maxRcpts      = 100000
	maxStringLen  = 64 << 10 // any one string of a record
)

// wireRecord is the JSON form of a Record: lower-case keys, parameters as
// [key, value] pairs, zero times omitted.
type wireRecord struct {
	Version     int        `json:"version"`
	ID          string     `json:"id"`
	Arrived     time.Time  `json:"arrived"`
	Size        int64      `json:"size"`
	HeaderSize  int64      `json:"header_size"`
	From        wireAddr   `json:"from"`
	Rcpts       []wireRcpt `json:"rcpts"`
	Client      wireClient `json:"client"`
	Attempts    int        `json:"attempts"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Held        bool       `json:"held,omitempty"`
	HoldReason  string     `json:"hold_reason,omitempty"`
	DelayWarned bool       `json:"delay_warned,omitempty"`
}

type wireAddr struct {
	Addr   string      `json:"addr"`
	Params [][2]string `json:"params,omitempty"`
}

type wireRcpt struct {
	wireAddr
	State    RcptState  `json:"state"`
	Handoff  string     `json:"handoff,omitempty"` // relayed, passed-on, final; absent: unknown
	Reply    *wireReply `json:"reply,omitempty"`
	Notified bool       `json:"notified,omitempty"`
	Expired  bool       `json:"expired,omitempty"`
}

type wireReply struct {
	Code     int        `json:"code,omitempty"`
	Enhanced string     `json:"enhanced,omitempty"`
	Text     string     `json:"text,omitempty"`
	Remote   string     `json:"remote,omitempty"`
	At       *time.Time `json:"at,omitempty"`
}

type wireClient struct {
	ConnID string `json:"conn_id,omitempty"`
	Name   string `json:"name,omitempty"`
	Addr   string `json:"addr,omitempty"` // ip:port, [ip6]:port
	Path   string `json:"path,omitempty"`
	Family string `json:"family,omitempty"` // 4, 6, L, U
	HELO   string `json:"helo,omitempty"`
	Proto  string `json:"proto,omitempty"`
	Login  string `json:"login,omitempty"`
	Mech   string `json:"mech,omitempty"`
}

// encodeRecord returns the record file's bytes.
func encodeRecord(r *Record) ([]byte, error) {
	if err := checkRecord(r); err != nil {
		return nil, err
	}
	w := wireRecord{
		Version: recordVersion, ID: r.ID, Arrived: r.Arrived.UTC(),
		Size: r.Size, HeaderSize: r.HeaderSize,
		From: toWireAddr(r.From), Client: toWireClient(r.Client),
		Attempts: r.Attempts, LastAttempt: timePtr(r.LastAttempt), NextAttempt: timePtr(r.NextAttempt),
		Held: r.Held, HoldReason: r.HoldReason, DelayWarned: r.DelayWarned,
	}
	w.Rcpts = make([]wireRcpt, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		w.Rcpts[i] = wireRcpt{wireAddr: toWireAddr(rc.Address), State: rc.State, Handoff: handoffName(rc.Handoff),
			Notified: rc.Notified, Expired: rc.Expired}
		if rc.Reply != (Reply{}) {
			rp := rc.Reply
			w.Rcpts[i].Reply = &wireReply{Code: rp.Code, Enhanced: rp.Enhanced, Text: rp.Text, Remote: rp.Remote, At: timePtr(rp.At)}
		}
	}
	b, err := json.MarshalIndent(&w, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeRecord parses and checks a record file.
func decodeRecord(b []byte) (*Record, error) {
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("record is %d bytes, more than %d", len(b), maxRecordSize)
	}
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.Version != recordVersion {
		return nil, fmt.Errorf("record version %d, want %d", w.Version, recordVersion)
	}
	r := &Record{
		ID: w.ID, Arrived: w.Arrived.UTC(), Size: w.Size, HeaderSize: w.HeaderSize,
		From: fromWireAddr(w.From), Attempts: w.Attempts,
		LastAttempt: timeVal(w.LastAttempt), NextAttempt: timeVal(w.NextAttempt),
		Held: w.Held, HoldReason: w.HoldReason, DelayWarned: w.DelayWarned,
	}
	var err error
	if r.Client, err = fromWireClient(w.Client); err != nil {
		return nil, err
	}
	if len(w.Rcpts) > 0 {
		r.Rcpts = make([]Rcpt, len(w.Rcpts))
	}
	for i, wr := range w.Rcpts {
		rc := Rcpt{Address: fromWireAddr(wr.wireAddr), State: wr.State, Notified: wr.Notified, Expired: wr.Expired}
		if rc.Handoff, err = parseHandoff(wr.Handoff); err != nil {
			return nil, fmt.Errorf("rcpts[%d]: %v", i, err)
		}
		if p := wr.Reply; p != nil {
			rc.Reply = Reply{Code: p.Code, Enhanced: p.Enhanced, Text: p.Text, Remote: p.Remote, At: timeVal(p.At)}
		}
		r.Rcpts[i] = rc
	}
	if err := checkRecord(r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkRecord enforces what the rest of the package relies on: a valid
// ID, sane sizes, at least one recipient, and no control characters in
// strings that end up in header fields of a DSN or in SMTP commands.
func checkRecord(r *Record) error {
	switch {
	case !validID(r.ID):
		return fmt.Errorf("bad queue ID %q", r.ID)
	case r.Size < 0 || r.HeaderSize < 0 || r.HeaderSize > r.Size:
		return fmt.Errorf("bad sizes: size %d, header_size %d", r.Size, r.HeaderSize)
	case len(r.Rcpts) == 0:
		return errors.New("no recipients")
	case len(r.Rcpts) > maxRcpts:
		return fmt.Errorf("%d recipients, more than %d", len(r.Rcpts), maxRcpts)
	case r.Attempts < 0:
		return fmt.Errorf("bad attempts %d", r.Attempts)
	}
	if err := checkAddr("from", r.From); err != nil {
		return err
	}
	for i, rc := range r.Rcpts {
		if rc.Addr == "" {
			return fmt.Errorf("rcpts[%d]: empty address", i)
		}
		if err := checkAddr(fmt.Sprintf("rcpts[%d]", i), rc.Address); err != nil {
			return err
		}
		if rc.State > Failed {
			return fmt.Errorf("rcpts[%d]: bad state %d", i, rc.State)
		}
		if rc.Handoff > envelope.HandoffFinal {
			return fmt.Errorf("rcpts[%d]: bad handoff %d", i, rc.Handoff)
		}
		rp := rc.Reply
		if err := checkStrings(fmt.Sprintf("rcpts[%d].reply", i), rp.Enhanced, rp.Text, rp.Remote); err != nil {
			return err
		}
	}
	c := r.Client
	return checkStrings("client", c.ID, c.ClientName, c.ClientPath, c.HELO, c.Proto, c.AuthLogin, c.AuthMech, r.HoldReason)
}

func checkAddr(what string, a envelope.Address) error {
	if err := checkStrings(what, a.Addr); err != nil {
		return err
	}
	for _, p := range a.Params {
		if p.Key == "" {
			return fmt.Errorf("%s: empty parameter keyword", what)
		}
		if err := checkStrings(what+" parameter", p.Key, p.Value); err != nil {
			return err
		}
	}
	return nil
}

// checkStrings rejects ASCII control characters (tab aside) and overlong
// strings.
func checkStrings(what string, ss ...string) error {
	for _, s := range ss {
		if len(s) > maxStringLen {
			return fmt.Errorf("%s: string of %d bytes, more than %d", what, len(s), maxStringLen)
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				return fmt.Errorf("%s: control character %#x in %q", what, c, s)
			}
		}
	}
	return nil
}

func toWireAddr(a envelope.Address) wireAddr {
	w := wireAddr{Addr: a.Addr}
	for _, p := range a.Params {
		w.Params = append(w.Params, [2]string{p.Key, p.Value})
	}
	return w
}

func fromWireAddr(w wireAddr) envelope.Address {
	a := envelope.Address{Addr: w.Addr}
	for _, p := range w.Params {
		a.Params = append(a.Params, envelope.Param{Key: p[0], Value: p[1]})
	}
	return a
}

// handoffNames are the record's names of the known handoffs; an unknown
// one is not written.
var handoffNames = [...]string{envelope.HandoffRelayed: "relayed", envelope.HandoffPassedOn: "passed-on",
	envelope.HandoffFinal: "final"}

func handoffName(h envelope.Handoff) string {
	if int(h) < len(handoffNames) {
		return handoffNames[h]
	}
	return ""
}

// parseHandoff decodes a handoff name; "" (the key absent) is
// HandoffUnknown.
func parseHandoff(s string) (envelope.Handoff, error) {
	if s == "" {
		return envelope.HandoffUnknown, nil
	}
	for h, n := range handoffNames {
		if n != "" && s == n {
			return envelope.Handoff(h), nil
		}
	}
	return 0, fmt.Errorf("bad handoff %q (want relayed, passed-on, final)", s)
}

func toWireClient(c envelope.Conn) wireClient {
	w := wireClient{ConnID: c.ID, Name: c.ClientName, Path: c.ClientPath, HELO: c.HELO,
		Proto: c.Proto, Login: c.AuthLogin, Mech: c.AuthMech}
	if c.ClientAddr.IsValid() {
		w.Addr = c.ClientAddr.String()
	}
	if c.Family != 0 {
		w.Family = string(rune(c.Family))
	}
	return w
}

func fromWireClient(w wireClient) (envelope.Conn, error) {
	c := envelope.Conn{ID: w.ConnID, ClientName: w.Name, ClientPath: w.Path, HELO: w.HELO,
		Proto: w.Proto, AuthLogin: w.Login, AuthMech: w.Mech}
	if w.Addr != "" {
		ap, err := netip.ParseAddrPort(w.Addr)
		if err != nil {
			return c, fmt.Errorf("client.addr: %q: %v", w.Addr, err)
		}
		c.ClientAddr = ap
	}
	switch w.Family {
	case "":
	case "4", "6", "L", "U":
		c.Family = envelope.Family(w.Family[0])
	default:
		return c, fmt.Errorf("client.family: bad value %q (want 4, 6, L, U)", w.Family)
	}
	return c, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
