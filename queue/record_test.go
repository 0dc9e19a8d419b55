package queue

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

func sampleRecord() Record {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return Record{
		ID: "0630c1f2a3b4c5d6",
		From: envelope.Address{Addr: "a@example.org", Params: []envelope.Param{
			{Key: "BODY", Value: "8BITMIME"}, {Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: "x+2By"}}},
		Rcpts: []Rcpt{
			{Address: envelope.Address{Addr: "b@example.net", Params: []envelope.Param{
				{Key: "NOTIFY", Value: "FAILURE,DELAY"}, {Key: "ORCPT", Value: "rfc822;b@example.net"}}}},
			{Address: envelope.Address{Addr: "c@example.net"}, State: Failed, Notified: true,
				Reply: Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user", Remote: "mx.example.net", At: at.Add(time.Minute)}},
			{Address: envelope.Address{Addr: "d@example.net", Params: []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS"}}},
				State: Delivered, Handoff: envelope.HandoffFinal,
				Reply: Reply{Enhanced: "2.0.0", Text: "delivered to maildir", At: at.Add(time.Minute)}},
		},
		Client: envelope.Conn{ID: "c1", ClientName: "client.example.com", ClientAddr: netip.MustParseAddrPort("[2001:db8::7]:4100"),
			Family: envelope.FamilyInet6, HELO: "client.example.com", Proto: "ESMTPSA", AuthLogin: "alice", AuthMech: "PLAIN"},
		Arrived: at, Size: 300, HeaderSize: 100, Attempts: 1,
		LastAttempt: at.Add(time.Minute), NextAttempt: at.Add(6 * time.Minute),
		Held: true, HoldReason: "quarantined by access rule 3",
	}
}

const sampleJSON = `{
  "version": 1,
  "id": "0630c1f2a3b4c5d6",
  "arrived": "2025-03-01T12:00:00Z",
  "size": 300,
  "header_size": 100,
  "from": {
    "addr": "a@example.org",
    "params": [
      [
        "BODY",
        "8BITMIME"
      ],
      [
        "RET",
        "HDRS"
      ],
      [
        "ENVID",
        "x+2By"
      ]
    ]
  },
  "rcpts": [
    {
      "addr": "b@example.net",
      "params": [
        [
          "NOTIFY",
          "FAILURE,DELAY"
        ],
        [
          "ORCPT",
          "rfc822;b@example.net"
        ]
      ],
      "state": "pending"
    },
    {
      "addr": "c@example.net",
      "state": "failed",
      "reply": {
        "code": 550,
        "enhanced": "5.1.1",
        "text": "no such user",
        "remote": "mx.example.net",
        "at": "2025-03-01T12:01:00Z"
      },
      "notified": true
    },
    {
      "addr": "d@example.net",
      "params": [
        [
          "NOTIFY",
          "SUCCESS"
        ]
      ],
      "state": "delivered",
      "handoff": "final",
      "reply": {
        "enhanced": "2.0.0",
        "text": "delivered to maildir",
        "at": "2025-03-01T12:01:00Z"
      }
    }
  ],
  "client": {
    "conn_id": "c1",
    "name": "client.example.com",
    "addr": "[2001:db8::7]:4100",
    "family": "6",
    "helo": "client.example.com",
    "proto": "ESMTPSA",
    "login": "alice",
    "mech": "PLAIN"
  },
  "attempts": 1,
  "last_attempt": "2025-03-01T12:01:00Z",
  "next_attempt": "2025-03-01T12:06:00Z",
  "held": true,
  "hold_reason": "quarantined by access rule 3"
}
`

// TestRecordFormat pins the human-readable record file and its round trip.
func TestRecordFormat(t *testing.T) {
	r := sampleRecord()
	b, err := encodeRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != sampleJSON {
		t.Errorf("encoded record:\n%s\nwant:\n%s", b, sampleJSON)
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, r)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	edit := func(old, new string) string { return strings.Replace(sampleJSON, old, new, 1) }
	tests := []struct {
		name, in, want string
	}{
		{"not json", "{", "unexpected end of JSON input"},
		{"trailing data", sampleJSON + "{}", "invalid character '{' after top-level value"},
		{"version", edit(`"version": 1`, `"version": 2`), "record version 2, want 1"},
		{"id", edit(`"id": "0630c1f2a3b4c5d6"`, `"id": "../../etc/x"`), `bad queue ID "../../etc/x"`},
		{"sizes", edit(`"header_size": 100`, `"header_size": 301`), "bad sizes: size 300, header_size 301"},
		{"negative size", edit(`"size": 300`, `"size": -1`), "bad sizes: size -1, header_size 100"},
		{"state", edit(`"state": "pending"`, `"state": "lost"`), `bad recipient state "lost" (want pending, delivered, failed)`},
		{"handoff", edit(`"handoff": "final"`, `"handoff": "unknown"`), `rcpts[2]: bad handoff "unknown" (want relayed, passed-on, final)`},
		{"handoff case", edit(`"handoff": "final"`, `"handoff": "Final"`), `rcpts[2]: bad handoff "Final" (want relayed, passed-on, final)`},
		{"no rcpts", `{"version":1,"id":"0630c1f2a3b4c5d6","arrived":"2025-03-01T12:00:00Z","from":{"addr":""},"rcpts":[]}`, "no recipients"},
		{"empty rcpt", edit(`"addr": "c@example.net"`, `"addr": ""`), "rcpts[1]: empty address"},
		{"crlf in address", edit(`"addr": "a@example.org"`, `"addr": "a@example.org\r\nBcc: x"`), `from: control character 0xd in "a@example.org\r\nBcc: x"`},
		{"control in reason", edit(`"hold_reason": "quarantined by access rule 3"`, `"hold_reason": "a\u0000b"`), `client: control character 0x0 in "a\x00b"`},
		{"empty param key", edit(`"BODY",`, `"",`), "from: empty parameter keyword"},
		{"client addr", edit(`"addr": "[2001:db8::7]:4100"`, `"addr": "nowhere"`), `client.addr: "nowhere": not an ip:port`},
		{"family", edit(`"family": "6"`, `"family": "X"`), `client.family: bad value "X" (want 4, 6, L, U)`},
		{"attempts", edit(`"attempts": 1`, `"attempts": -1`), "bad attempts -1"},
		{"time", edit(`"arrived": "2025-03-01T12:00:00Z"`, `"arrived": "yesterday"`), `parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
	}
	for _, tt := range tests {
		_, err := decodeRecord([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestRecordHandoff: each handoff has its name in the record, an unknown
// one is left out, and a record without the key (written before handoffs
// were kept) decodes with HandoffUnknown.
func TestRecordHandoff(t *testing.T) {
	tests := []struct {
		h    envelope.Handoff
		want string // the recipient's "handoff" line, "" for none
	}{
		{envelope.HandoffUnknown, ""},
		{envelope.HandoffRelayed, `      "handoff": "relayed",`},
		{envelope.HandoffPassedOn, `      "handoff": "passed-on",`},
		{envelope.HandoffFinal, `      "handoff": "final",`},
	}
	for _, tt := range tests {
		r := sampleRecord()
		r.Rcpts = r.Rcpts[2:]
		r.Rcpts[0].Handoff = tt.h
		b, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"handoff"`) {
				got += strings.TrimSuffix(line, "\n")
			}
		}
		if got != tt.want {
			t.Errorf("%v: handoff line %q, want %q", tt.h, got, tt.want)
		}
		back, err := decodeRecord(b)
		if err != nil || back.Rcpts[0].Handoff != tt.h {
			t.Errorf("%v: decoded %+v (%v)", tt.h, back, err)
		}
	}
	old := strings.Replace(sampleJSON, `      "handoff": "final",`+"\n", "", 1)
	r, err := decodeRecord([]byte(old))
	if err != nil {
		t.Fatalf("record without a handoff: %v", err)
	}
	want := sampleRecord()
	want.Rcpts[2].Handoff = envelope.HandoffUnknown
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("record without a handoff:\n got %+v\nwant %+v", *r, want)
	}
	bad := sampleRecord()
	bad.Rcpts[2].Handoff = envelope.HandoffFinal + 1
	if _, err := encodeRecord(&bad); err == nil || err.Error() != "rcpts[2]: bad handoff 4" {
		t.Errorf("encoding handoff 4: %v", err)
	}
}

func TestRecordState(t *testing.T) {
	r := sampleRecord()
	tests := []struct {
		name string
		edit func(*Record)
		want string
	}{
		{"held", func(*Record) {}, "held"},
		{"deferred", func(r *Record) { r.Held = false }, "deferred"},
		{"pending", func(r *Record) { r.Held, r.Attempts = false, 0 }, "pending"},
		{"done", func(r *Record) { r.Held, r.Rcpts[0].State = false, Delivered }, "done"},
	}
	for _, tt := range tests {
		c := r.clone()
		tt.edit(&c)
		if got := c.State(); got != tt.want {
			t.Errorf("%s: State() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
