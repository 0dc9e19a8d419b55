package milter

import (
	"fmt"
	"strings"
	"testing"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{Connect{Hostname: "mx.example", Family: FamilyInet, Port: 25, Address: "192.0.2.1"},
			`Connect{host="mx.example" family=4 addr="192.0.2.1" port=25}`},
		{Connect{Hostname: "unknown", Family: FamilyUnknown}, `Connect{host="unknown" family=U}`},
		{Connect{Hostname: "h", Family: 0x01}, `Connect{host="h" family=0x1 addr="" port=0}`},
		{Helo{Name: "evil\r\nInjected: yes"}, `Helo{name="evil\r\nInjected: yes"}`},
		{Mail{Args: []string{"<a@b>", "SIZE=1"}}, `Mail{"<a@b>" "SIZE=1"}`},
		{Rcpt{Args: []string{"<c@d>"}}, `Rcpt{"<c@d>"}`},
		{Header{Name: "Subject", Value: "hi"}, `Header{name="Subject" value="hi"}`},
		{Body{Chunk: make([]byte, 65535)}, `Body{len=65535}`},
		{EndOfBody{}, `EndOfBody{len=0}`},
		{Macro{Stage: CmdConnect, Pairs: []string{"j", "mx", "{client addr}", "1.2.3.4", "odd"}},
			`Macro{stage=C j="mx" "{client addr}"="1.2.3.4" odd=""}`},
		{Unknown{Line: "XYZZY"}, `Unknown{line="XYZZY"}`},
		{Data{}, "Data{}"}, {EndOfHeaders{}, "EndOfHeaders{}"}, {Abort{}, "Abort{}"},
		{Quit{}, "Quit{}"}, {QuitNewConn{}, "QuitNewConn{}"},
		{OptNeg{Version: 6, Actions: ActAddHeader, Protocol: ProtoNoHelo, SymLists: []SetSymList{{Stage: 2, Macros: "{mail_addr}"}}},
			`OptNeg{version=6 actions=ADDHDRS protocol=NOHELO symlist[2]="{mail_addr}"}`},
		{Continue{}, "Continue{}"}, {Accept{}, "Accept{}"}, {Reject{}, "Reject{}"}, {TempFail{}, "TempFail{}"},
		{Discard{}, "Discard{}"}, {Skip{}, "Skip{}"}, {ConnFail{}, "ConnFail{}"}, {Shutdown{}, "Shutdown{}"},
		{Progress{}, "Progress{}"},
		{ReplyCode{Text: "550 5.7.1 no"}, `ReplyCode{"550 5.7.1 no"}`},
		{AddHeader{Name: "X-A", Value: "b"}, `AddHeader{name="X-A" value="b"}`},
		{InsertHeader{Index: 0, Name: "X-A", Value: "b"}, `InsertHeader{index=0 name="X-A" value="b"}`},
		{ChangeHeader{Index: 3, Name: "X-A"}, `ChangeHeader{index=3 name="X-A" value=""}`},
		{AddRcpt{Rcpt: "<a@b>"}, `AddRcpt{"<a@b>"}`},
		{AddRcptPar{Rcpt: "<a@b>", Args: "X=1"}, `AddRcptPar{rcpt="<a@b>" args="X=1"}`},
		{DelRcpt{Rcpt: "<a@b>"}, `DelRcpt{"<a@b>"}`},
		{ChangeFrom{From: "<>"}, `ChangeFrom{from="<>" args=""}`},
		{ReplaceBody{Chunk: []byte("abc")}, `ReplaceBody{len=3}`},
		{Quarantine{Reason: "spam"}, `Quarantine{reason="spam"}`},
		{SetSymList{Stage: 5, Macros: "i"}, `SetSymList{stage=5 macros="i"}`},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestStringTruncatesLongValues(t *testing.T) {
	got := Header{Name: "X", Value: strings.Repeat("v", 1000)}.String()
	want := `Header{name="X" value="` + strings.Repeat("v", logLimit) + `"…(+800 bytes)}`
	if got != want {
		t.Fatalf("got %s", got)
	}
}
