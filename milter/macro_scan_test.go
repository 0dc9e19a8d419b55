package milter

import (
	"errors"
	"testing"
)

func TestScanAndLookupMacro(t *testing.T) {
	p := Macro{Stage: CmdConnect, Pairs: []string{"j", "mx.test", "{client_addr}", "192.0.2.1", "{empty}", ""}}.Encode()
	stage, pairs, err := ScanMacro(p)
	if err != nil || stage != CmdConnect {
		t.Fatalf("ScanMacro = %q, %v", stage, err)
	}
	for _, tt := range []struct{ name, want string }{
		{"j", "mx.test"}, {"client_addr", "192.0.2.1"}, {"{client_addr}", "192.0.2.1"}, {"empty", ""},
	} {
		if got, ok := LookupMacro(pairs, tt.name); !ok || got != tt.want {
			t.Errorf("LookupMacro(%q) = %q, %v", tt.name, got, ok)
		}
	}
	if _, ok := LookupMacro(pairs, "i"); ok {
		t.Error("found a macro that is not there")
	}
	if n := testing.AllocsPerRun(100, func() { ScanMacro(p) }); n != 0 {
		t.Errorf("ScanMacro allocates %v times", n)
	}
}

func TestScanMacroRejectsWhatDecodeRejects(t *testing.T) {
	bad := []Packet{
		{Code: CmdMacro},
		{Code: CmdMacro, Data: []byte("Cj\x00")},
		{Code: CmdMacro, Data: []byte("Cj\x00v")},
		{Code: CmdHelo, Data: []byte("x\x00")},
	}
	for _, p := range bad {
		_, _, err := ScanMacro(p)
		if err == nil || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMissingNUL) {
			t.Errorf("ScanMacro(%q) = %v", p.Data, err)
		}
		if _, derr := DecodeCommand(p); p.Code == CmdMacro && derr == nil {
			t.Errorf("DecodeCommand accepts %q", p.Data)
		}
	}
}
