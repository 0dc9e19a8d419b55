package xclient

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

func TestClientAttrs(t *testing.T) {
	tests := []struct {
		name string
		conn envelope.Conn
		want []Attr
	}{
		{
			name: "full IPv4 client",
			conn: envelope.Conn{
				ClientName: "mail.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.7:40123"),
				Family: envelope.FamilyInet, HELO: "helo.example.net", Proto: "ESMTPSA", AuthLogin: "alice",
			},
			want: []Attr{{Name, "mail.example.net"}, {Addr, "192.0.2.7"}, {Port, "40123"}, {Proto, "ESMTP"},
				{Helo, "helo.example.net"}, {Login, "alice"}},
		},
		{
			name: "IPv6 without a name",
			conn: envelope.Conn{
				ClientName: "[2001:db8::7]", ClientAddr: netip.MustParseAddrPort("[2001:db8::7%eth0]:25"),
				HELO: "[IPv6:2001:db8::7]", Proto: "SMTP",
			},
			want: []Attr{{Name, Unavailable}, {Addr, "IPV6:2001:db8::7"}, {Port, "25"}, {Proto, "SMTP"},
				{Helo, "[IPv6:2001:db8::7]"}, {Login, Unavailable}},
		},
		{
			name: "IPv4-mapped address, temporary name failure, LMTP",
			conn: envelope.Conn{
				ClientName: TempUnavail, ClientAddr: netip.MustParseAddrPort("[::ffff:198.51.100.1]:1"), Proto: "LMTP",
			},
			want: []Attr{{Name, TempUnavail}, {Addr, "198.51.100.1"}, {Port, "1"},
				{Helo, Unavailable}, {Login, Unavailable}},
		},
		{
			name: "nothing known",
			conn: envelope.Conn{ClientName: "unknown"},
			want: []Attr{{Name, Unavailable}, {Addr, Unavailable}, {Port, Unavailable}, {Helo, Unavailable}, {Login, Unavailable}},
		},
		{
			name: "name that is an address or not a host name",
			conn: envelope.Conn{ClientName: "192.0.2.1", Proto: "esmtp"},
			want: []Attr{{Name, Unavailable}, {Addr, Unavailable}, {Port, Unavailable}, {Proto, "ESMTP"}, {Helo, Unavailable}, {Login, Unavailable}},
		},
	}
	for _, tt := range tests {
		if got := ClientAttrs(tt.conn); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ClientAttrs =\n %v\nwant\n %v", tt.name, got, tt.want)
		}
	}
}

func TestForwardAttrs(t *testing.T) {
	tests := []struct {
		name  string
		conn  envelope.Conn
		ident string
		want  []Attr
	}{
		{
			name: "network client",
			conn: envelope.Conn{ClientName: "mail.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.7:40123"),
				HELO: "helo.example.net", Proto: "ESMTPS"},
			ident: "Q1234",
			want: []Attr{{Name, "mail.example.net"}, {Addr, "192.0.2.7"}, {Port, "40123"}, {Proto, "ESMTPS"},
				{Helo, "helo.example.net"}, {Ident, "Q1234"}, {Source, SourceRemote}},
		},
		{
			name: "unix socket client, no ident",
			conn: envelope.Conn{ClientPath: "/run/sluice.sock", Family: envelope.FamilyUnix, Proto: "SMTP"},
			want: []Attr{{Name, Unavailable}, {Addr, Unavailable}, {Port, Unavailable}, {Proto, "SMTP"},
				{Helo, Unavailable}, {Source, SourceLocal}},
		},
		{
			name: "protocol name with a space",
			conn: envelope.Conn{ClientAddr: netip.MustParseAddrPort("[2001:db8::1]:2525"), Proto: "bad proto"},
			want: []Attr{{Name, Unavailable}, {Addr, "IPV6:2001:db8::1"}, {Port, "2525"}, {Proto, Unavailable},
				{Helo, Unavailable}, {Source, SourceRemote}},
		},
	}
	for _, tt := range tests {
		if got := ForwardAttrs(tt.conn, tt.ident); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ForwardAttrs =\n %v\nwant\n %v", tt.name, got, tt.want)
		}
	}
}
