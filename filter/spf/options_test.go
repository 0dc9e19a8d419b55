package spf

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// TestOptionErrors: every bad option is named, each as an *OptionError.
func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"fail", Options{FailAction: "tempfail"}, `filter/spf: fail_action: unknown action "tempfail" (want reject or tag)`},
		{"softfail", Options{SoftFailAction: "reject"}, `filter/spf: softfail_action: unknown action "reject" (want tag or tempfail)`},
		{"temperror", Options{TempErrorAction: "reject"}, `filter/spf: temperror_action: unknown action "reject" (want tempfail or accept)`},
		{"permerror", Options{PermErrorAction: "tag"}, `filter/spf: permerror_action: unknown action "tag" (want accept or reject)`},
		{"timeout", Options{Timeout: -time.Second}, `filter/spf: timeout: must be > 0, got -1s`},
		{"receiver", Options{Receiver: "mx example"}, `filter/spf: receiver: want a host name such as mx.example.com, got "mx example"`},
		{"skip", Options{SkipNetworks: []netip.Prefix{{}}}, `filter/spf: skip_networks: [0]: not a valid network`},
		{"several", Options{FailAction: "x", Timeout: -1},
			"filter/spf: fail_action: unknown action \"x\" (want reject or tag)\nfilter/spf: timeout: must be > 0, got -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.opts)
			if f != nil || err == nil {
				t.Fatalf("New = %v, %v; want an error", f, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Errorf("%v is no *OptionError", err)
			}
		})
	}
}

// TestDefaults: the zero Options.
func TestDefaults(t *testing.T) {
	f, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.fail != actReject || f.softfail != actTag || f.temperror != actTempFail || f.permerror != actAccept {
		t.Errorf("actions %v %v %v %v", f.fail, f.softfail, f.temperror, f.permerror)
	}
	if f.timeout != DefaultTimeout || !f.header || f.resolver == nil || f.log == nil {
		t.Errorf("timeout %s, header %v, resolver %v", f.timeout, f.header, f.resolver)
	}
	want := filter.Networks{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !reflect.DeepEqual(f.skip, want) {
		t.Errorf("skip %v, want %v", f.skip, want)
	}
	if f.Name() != "spf" {
		t.Errorf("name %q", f.Name())
	}
}

// TestNeeds: the stages, replies, edits and macros declared.
func TestNeeds(t *testing.T) {
	macros := map[filter.Stage][]string{filter.StageMail: {"{auth_authen}"}}
	noReply := filter.Stages(filter.StageConnect, filter.StageHelo)
	tests := []struct {
		opts Options
		want filter.Needs
	}{
		{Options{}, filter.Needs{
			Skip:    filter.Stages(filter.StageRcpt, filter.StageData, filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody, filter.StageUnknown),
			NoReply: noReply, Edits: filter.EditAddHeader | filter.EditInsertHeader, Macros: macros}},
		{Options{NoHeader: true}, filter.Needs{
			Skip:    filter.Stages(filter.StageRcpt, filter.StageData, filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody, filter.StageEndOfMessage, filter.StageUnknown),
			NoReply: noReply, Macros: macros}},
	}
	for _, tt := range tests {
		f, err := New(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Needs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NoHeader=%v: Needs\n%+v\nwant\n%+v", tt.opts.NoHeader, got, tt.want)
		}
	}
}
