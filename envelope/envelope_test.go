package envelope_test

import (
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

func TestParams(t *testing.T) {
	tests := []struct {
		in, out string
		size    string
	}{
		{"SIZE=100 body=8BITMIME", "SIZE=100 BODY=8BITMIME", "100"},
		{"  SMTPUTF8   RET=HDRS ", "SMTPUTF8 RET=HDRS", ""},
		{"", "", ""},
		{"ORCPT=rfc822;a+2Bb@example.org", "ORCPT=rfc822;a+2Bb@example.org", ""},
	}
	for _, tt := range tests {
		a := envelope.Address{Addr: "x@y", Params: envelope.ParseParams(tt.in)}
		if got := a.ParamString(); got != tt.out {
			t.Errorf("ParseParams(%q) renders %q, want %q", tt.in, got, tt.out)
		}
		if v, _ := a.Param("size"); v != tt.size {
			t.Errorf("Param(size) of %q = %q, want %q", tt.in, v, tt.size)
		}
	}
	if _, ok := (envelope.Address{Params: envelope.ParseParams("SMTPUTF8")}).Param("smtputf8"); !ok {
		t.Error("a keyword without a value is present")
	}
}

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{"a@b.example": "b.example", "\"a@x\"@b": "b", "postmaster": "", "": ""} {
		if got := envelope.Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleAddress_ParamString() {
	from := envelope.Address{Addr: "ann@example.org", Params: envelope.ParseParams("size=1024 BODY=8BITMIME")}
	fmt.Println(from.ParamString())
	// Output: SIZE=1024 BODY=8BITMIME
}
