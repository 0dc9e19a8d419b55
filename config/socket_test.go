package config

import "testing"

func TestParseSocket(t *testing.T) {
	tests := []struct {
		in      string
		want    Socket
		port    int
		wantErr string
	}{
		{in: "inet:8890@127.0.0.1", want: Socket{Network: "tcp", Address: "127.0.0.1:8890"}, port: 8890},
		{in: "inet:8890@localhost", want: Socket{Network: "tcp", Address: "localhost:8890"}, port: 8890},
		{in: "inet:8890", want: Socket{Network: "tcp", Address: ":8890"}, port: 8890},
		{in: "inet:0@127.0.0.1", want: Socket{Network: "tcp", Address: "127.0.0.1:0"}, port: 0},
		{in: "inet:127.0.0.1:8891", want: Socket{Network: "tcp", Address: "127.0.0.1:8891"}, port: 8891},
		{in: "inet:[::1]:8891", want: Socket{Network: "tcp", Address: "[::1]:8891"}, port: 8891},
		{in: "inet6:8890@::1", want: Socket{Network: "tcp6", Address: "[::1]:8890"}, port: 8890},
		{in: "inet6:8890@[::1]", want: Socket{Network: "tcp6", Address: "[::1]:8890"}, port: 8890},
		{in: "inet6:8890", want: Socket{Network: "tcp6", Address: ":8890"}, port: 8890},
		{in: "unix:/run/sluice/milter.sock", want: Socket{Network: "unix", Address: "/run/sluice/milter.sock"}},
		{in: "local:relative.sock", want: Socket{Network: "unix", Address: "relative.sock"}},
		{in: "8890", wantErr: `bad socket "8890" (want unix:/path, inet:port@host or inet6:port@host)`},
		{in: "tcp:8890@127.0.0.1", wantErr: `bad socket "tcp:8890@127.0.0.1": unknown type "tcp" (want unix, local, inet or inet6)`},
		{in: "unix:", wantErr: `bad socket "unix:": empty path`},
		{in: "inet:@127.0.0.1", wantErr: `bad socket "inet:@127.0.0.1": empty port`},
		{in: "inet:8890@", wantErr: `bad socket "inet:8890@": empty host after @`},
		{in: "inet:70000@127.0.0.1", wantErr: `bad socket "inet:70000@127.0.0.1": bad port "70000"`},
		{in: "inet:x@127.0.0.1", wantErr: `bad socket "inet:x@127.0.0.1": bad port "x"`},
		{in: "inet:+25@127.0.0.1", wantErr: `bad socket "inet:+25@127.0.0.1": bad port "+25"`},
		{in: "inet:25@bad host", wantErr: `bad socket "inet:25@bad host": bad host "bad host"`},
		{in: "inet6:25@127.0.0.1", wantErr: `bad socket "inet6:25@127.0.0.1": inet6 with IPv4 address "127.0.0.1"`},
	}
	for _, tt := range tests {
		got, err := ParseSocket(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseSocket(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		tt.want.Spec = tt.in
		if err != nil || got != tt.want {
			t.Errorf("ParseSocket(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.Port() != tt.port || got.String() != tt.in {
			t.Errorf("ParseSocket(%q): Port() = %d, String() = %q", tt.in, got.Port(), got.String())
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "smtp://127.0.0.1:25", want: Target{Kind: "smtp", Addr: "127.0.0.1:25"}},
		{in: "lmtp://mail.example.org:24", want: Target{Kind: "lmtp", Addr: "mail.example.org:24"}},
		{in: "smtp://[::1]:2526", want: Target{Kind: "smtp", Addr: "[::1]:2526"}},
		{in: "lmtp+unix:/run/dovecot/lmtp", want: Target{Kind: "lmtp+unix", Addr: "/run/dovecot/lmtp"}},
		{in: "maildir:./var/mail", want: Target{Kind: "maildir", Addr: "./var/mail"}},
		{in: "127.0.0.1:25", wantErr: `bad downstream "127.0.0.1:25": unknown scheme "127.0.0.1" (want smtp, lmtp, lmtp+unix or maildir)`},
		{in: "maildir", wantErr: `bad downstream "maildir" (want smtp://host:port, lmtp://host:port, lmtp+unix:/path or maildir:/path)`},
		{in: "smtp:127.0.0.1:25", wantErr: `bad downstream "smtp:127.0.0.1:25" (want smtp://host:port)`},
		{in: "smtp://127.0.0.1", wantErr: `bad downstream "smtp://127.0.0.1": bad address "127.0.0.1" (want host:port)`},
		{in: "smtp://:25", wantErr: `bad downstream "smtp://:25": want a host and a non-zero port`},
		{in: "lmtp://127.0.0.1:0", wantErr: `bad downstream "lmtp://127.0.0.1:0": want a host and a non-zero port`},
		{in: "maildir:", wantErr: `bad downstream "maildir:": empty path`},
		{in: "http://example.org:80", wantErr: `bad downstream "http://example.org:80": unknown scheme "http" (want smtp, lmtp, lmtp+unix or maildir)`},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseTarget(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseSocket(f *testing.F) {
	f.Add("inet:8890@127.0.0.1")
	f.Add("inet6:8890@::1")
	f.Add("unix:/run/milter.sock")
	f.Add("inet:127.0.0.1:25")
	f.Fuzz(func(t *testing.T, s string) {
		sock, err := ParseSocket(s)
		if err != nil {
			return
		}
		if sock.Spec != s || sock.Address == "" {
			t.Fatalf("ParseSocket(%q) = %+v", s, sock)
		}
		switch sock.Network {
		case "unix":
		case "tcp", "tcp6":
			if err := checkHostPort(sock.Address); err != nil {
				t.Fatalf("ParseSocket(%q) gave a bad address: %v", s, err)
			}
		default:
			t.Fatalf("ParseSocket(%q): network %q", s, sock.Network)
		}
	})
}
