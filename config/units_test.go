package config

import (
	"strconv"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "5d", want: 5 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0d", want: 0},
		{in: "0", want: 0},
		{in: " 7m ", want: 7 * time.Minute},
		{in: "", wantErr: "empty duration"},
		{in: "5", wantErr: `bad duration "5" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{in: "5x", wantErr: `bad duration "5x" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{in: "d", wantErr: `bad duration "d" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{in: "1.5d", wantErr: `bad duration "1.5d" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{in: "1d-1h", wantErr: `bad duration "1d-1h" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{in: "-5s", wantErr: `negative duration "-5s"`},
		{in: "200000d", wantErr: `duration "200000d" is too long`},
		{in: "99999999999999999999d", wantErr: `duration "99999999999999999999d" is too long`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1048576},
		{in: "50MiB", want: 50 << 20},
		{in: "64KiB", want: 64 << 10},
		{in: "64kib", want: 64 << 10},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "1GB", want: 1000000000},
		{in: "10kB", want: 10000},
		{in: "3MB", want: 3000000},
		{in: "2TB", want: 2000000000000},
		{in: "12B", want: 12},
		{in: "5 MiB", want: 5 << 20},
		{in: "", wantErr: `bad size "" (want bytes or e.g. "64KiB", "50MiB", "1GB")`},
		{in: "MiB", wantErr: `bad size "MiB" (want bytes or e.g. "64KiB", "50MiB", "1GB")`},
		{in: "-1", wantErr: `bad size "-1" (want bytes or e.g. "64KiB", "50MiB", "1GB")`},
		{in: "1.5MiB", wantErr: `bad size unit in "1.5MiB" (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{in: "5M", wantErr: `bad size unit in "5M" (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{in: "5  MiB", wantErr: `bad size unit in "5  MiB" (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{in: "9223372036854775808", wantErr: `size "9223372036854775808" is too large`},
		{in: "9000000TiB", wantErr: `size "9000000TiB" is too large`},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseSize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add("50MiB")
	f.Add("1GB")
	f.Add("9223372036854775807")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		// A plain byte count always reads back as itself.
		back, err := ParseSize(strconv.FormatInt(n, 10))
		if err != nil || back != n {
			t.Fatalf("ParseSize(%d) = %d, %v", n, back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	f.Add("5d")
	f.Add("1d12h30m")
	f.Add("250ms")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	})
}
