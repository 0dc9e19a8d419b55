package xclient

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

func TestNetworksAllows(t *testing.T) {
	n := Networks{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"127.0.0.2", false},
		{"2001:db8::25", true},
		{"2001:db9::25", false},
	}
	for _, tt := range tests {
		if got := n.Allows(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Allows(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if n.Allows(netip.Addr{}) || (Networks{}).Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an invalid address or an empty list allows")
	}
}

// proxy is the identity a session starts with before XCLIENT.
func proxy() Identity {
	return Identity{Conn: envelope.Conn{
		ClientName: "proxy.example", ClientAddr: netip.MustParseAddrPort("127.0.0.1:4000"),
		Family: envelope.FamilyInet, HELO: "proxy.example", Proto: "ESMTP",
	}, Dest: netip.MustParseAddrPort("127.0.0.1:25")}
}

func TestApplyXClient(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		want  func(*Identity)
		isErr error
	}{
		{"everything", "NAME=mx.example.net ADDR=192.0.2.7 PORT=40123 PROTO=esmtp HELO=mx.example.net LOGIN=ann DESTADDR=IPV6:2001:db8::1 DESTPORT=587",
			func(id *Identity) {
				id.Conn = envelope.Conn{ClientName: "mx.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.7:40123"),
					Family: envelope.FamilyInet, HELO: "mx.example.net", Proto: "ESMTP", AuthLogin: "ann", AuthMech: AuthMechXClient}
				id.Dest = netip.MustParseAddrPort("[2001:db8::1]:587")
			}, nil},
		{"port before address", "PORT=1 ADDR=ipv6:2001:db8::7",
			func(id *Identity) {
				id.Conn.ClientAddr = netip.MustParseAddrPort("[2001:db8::7]:1")
				id.Conn.Family, id.Conn.ClientName = envelope.FamilyInet6, ""
			}, nil},
		{"address without name forgets the name", "ADDR=192.0.2.9",
			func(id *Identity) {
				id.Conn.ClientAddr = netip.MustParseAddrPort("192.0.2.9:4000")
				id.Conn.ClientName = ""
			}, nil},
		{"unavailable", "NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] HELO=[UNAVAILABLE] PROTO=[UNAVAILABLE] LOGIN=[UNAVAILABLE]",
			func(id *Identity) {
				id.Conn.ClientName, id.Conn.ClientAddr, id.Conn.Family = "", netip.AddrPort{}, envelope.FamilyUnknown
				id.Conn.HELO, id.Conn.Proto = "", ""
			}, nil},
		{"temporarily unavailable name", "NAME=[TEMPUNAVAIL]", func(id *Identity) { id.Conn.ClientName = TempUnavail }, nil},
		{"helo with xtext", "HELO=[192.0.2.1]", func(id *Identity) { id.Conn.HELO = "[192.0.2.1]" }, nil},
		{"bad address", "ADDR=192.0.2.300", nil, ErrBadValue},
		{"zone", "ADDR=IPV6:fe80::1%eth0", nil, ErrBadValue},
		{"bad port", "PORT=65536", nil, ErrBadValue},
		{"bad proto", "PROTO=LMTP", nil, ErrBadValue},
		{"bad name", "NAME=192.0.2.1", nil, ErrBadValue},
		{"helo with a space", "HELO=a+20b", nil, ErrBadValue},
		{"xforward attribute", "IDENT=123", nil, ErrUnknownAttr},
		{"error changes nothing", "NAME=changed.example PORT=x", nil, ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs, err := Parse(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			id, want := proxy(), proxy()
			err = id.ApplyXClient(attrs)
			if tt.isErr != nil {
				if !errors.Is(err, tt.isErr) {
					t.Fatalf("error %v, want %v", err, tt.isErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				tt.want(&want)
			}
			if !reflect.DeepEqual(id, want) {
				t.Fatalf("got  %+v\nwant %+v", id, want)
			}
		})
	}
}

func TestApplyXForward(t *testing.T) {
	var id Identity
	attrs, err := Parse("NAME=mx.example.net ADDR=IPV6:2001:db8::5 PORT=25 PROTO=ESMTPSA")
	if err != nil {
		t.Fatal(err)
	}
	if err := id.ApplyXForward(attrs); err != nil {
		t.Fatal(err)
	}
	attrs, _ = Parse("HELO=mx.example.net IDENT=4Xyz SOURCE=remote")
	if err := id.ApplyXForward(attrs); err != nil {
		t.Fatal(err)
	}
	want := Identity{Conn: envelope.Conn{ClientName: "mx.example.net", ClientAddr: netip.MustParseAddrPort("[2001:db8::5]:25"),
		Family: envelope.FamilyInet6, Proto: "ESMTPSA", HELO: "mx.example.net"}, Ident: "4Xyz", Source: SourceRemote}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("got  %+v\nwant %+v", id, want)
	}
	for _, bad := range []string{"LOGIN=ann", "SOURCE=elsewhere", "PROTO=a+01", "DESTADDR=127.0.0.1"} {
		attrs, _ := Parse(bad)
		if err := id.ApplyXForward(attrs); err == nil {
			t.Errorf("XFORWARD %s accepted", bad)
		}
	}
}

// FuzzApply feeds arbitrary arguments through Parse and both Apply
// methods: no panic, and an error leaves the identity unchanged.
func FuzzApply(f *testing.F) {
	f.Fuzz(func(t *testing.T, args string) {
		attrs, err := Parse(args)
		if err != nil {
			return
		}
		for _, apply := range []func(*Identity, []Attr) error{(*Identity).ApplyXClient, (*Identity).ApplyXForward} {
			id := proxy()
			if err := apply(&id, attrs); err != nil && !reflect.DeepEqual(id, proxy()) {
				t.Fatalf("failed apply of %q changed the identity: %v", args, err)
			}
			if c := id.Conn; c.ClientAddr.IsValid() && (c.Family == envelope.FamilyUnknown) {
				t.Fatalf("%q: address %v with family %c", args, c.ClientAddr, c.Family)
			}
		}
	})
}
