package milter

import (
	"strings"
	"testing"
)

func TestParseSocketAddress(t *testing.T) {
	tests := []struct {
		in   string
		want SocketAddress
		err  string
	}{
		{"unix:/run/m.sock", SocketAddress{Kind: "unix", Path: "/run/m.sock"}, ""},
		{"local:/run/m.sock", SocketAddress{Kind: "unix", Path: "/run/m.sock"}, ""},
		{"inet:8890@127.0.0.1", SocketAddress{Kind: "inet", Host: "127.0.0.1", Port: "8890"}, ""},
		{"inet:127.0.0.1:8890", SocketAddress{Kind: "inet", Host: "127.0.0.1", Port: "8890"}, ""},
		{"inet:8890", SocketAddress{Kind: "inet", Port: "8890", PortOnly: true}, ""},
		{"inet6:8890@[::1]", SocketAddress{Kind: "inet6", Host: "::1", Port: "8890"}, ""},
		{"inet:@127.0.0.1", SocketAddress{}, `milter address "inet:@127.0.0.1": missing port`},
		{"inet:+1@h", SocketAddress{}, `bad port "+1"`},
		{"inet:70000@h", SocketAddress{}, `bad port "70000"`},
		{"unix:", SocketAddress{}, "empty socket path"},
		{"tcp:1@h", SocketAddress{}, `unknown socket type "tcp"`},
		{"/run/m.sock", SocketAddress{}, "want unix:/path"},
	}
	for _, tt := range tests {
		got, err := ParseSocketAddress(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSocketAddress(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSocketAddress(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
