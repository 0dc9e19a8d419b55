package milter

import (
	"errors"
	"reflect"
	"testing"
)

// postfixOffer is what Postfix 3.x sends with milter_protocol = 6.
var postfixOffer = OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoAll}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name        string
		mta, filter OptNeg
		want        OptNeg
	}{
		{
			name:   "postfix offer, filter wants a subset",
			mta:    postfixOffer,
			filter: OptNeg{Version: 6, Actions: ActAddHeader | ActChangeHeader, Protocol: ProtoNoHelo | ProtoNRHeader | ProtoSkip},
			want:   OptNeg{Version: 6, Actions: ActAddHeader | ActChangeHeader, Protocol: ProtoNoHelo | ProtoNRHeader | ProtoSkip},
		},
		{
			name:   "lower filter version wins",
			mta:    postfixOffer,
			filter: OptNeg{Version: 2},
			want:   OptNeg{Version: 2},
		},
		{
			name:   "lower MTA version wins",
			mta:    OptNeg{Version: 4, Actions: ActV2, Protocol: ProtoV2},
			filter: OptNeg{Version: 6, Actions: ActAddHeader},
			want:   OptNeg{Version: 4, Actions: ActAddHeader},
		},
		{
			name:   "unoffered NR, NODATA, NOUNKNOWN and SKIP are dropped",
			mta:    OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoV2},
			filter: OptNeg{Version: 6, Protocol: ProtoNoHelo | ProtoNRHeader | ProtoNRConnect | ProtoNoData | ProtoNoUnknown | ProtoSkip},
			want:   OptNeg{Version: 6, Protocol: ProtoNoHelo},
		},
		{
			name:   "offer of no actions and no protocol means version 1 sets",
			mta:    OptNeg{Version: 2},
			filter: OptNeg{Version: 6, Actions: ActAddHeader | ActDelRcpt, Protocol: ProtoNoBody | ProtoNRHeader},
			want:   OptNeg{Version: 2, Actions: ActAddHeader | ActDelRcpt, Protocol: ProtoNoBody},
		},
		{
			name:   "data size: smaller of 1M and 256K",
			mta:    OptNeg{Version: 6, Protocol: ProtoAll | ProtoMDS1M},
			filter: OptNeg{Version: 6, Protocol: ProtoMDS256K},
			want:   OptNeg{Version: 6, Protocol: ProtoMDS256K},
		},
		{
			name:   "data size: filter 1M, MTA 256K",
			mta:    OptNeg{Version: 6, Protocol: ProtoAll | ProtoMDS256K},
			filter: OptNeg{Version: 6, Protocol: ProtoMDS1M},
			want:   OptNeg{Version: 6, Protocol: ProtoMDS256K},
		},
		{
			name:   "data size: both 1M",
			mta:    OptNeg{Version: 6, Protocol: ProtoAll | ProtoMDS1M | ProtoMDS256K},
			filter: OptNeg{Version: 6, Protocol: ProtoMDS1M},
			want:   OptNeg{Version: 6, Protocol: ProtoMDS1M},
		},
		{
			name:   "data size: MTA offers none",
			mta:    postfixOffer,
			filter: OptNeg{Version: 6, Protocol: ProtoMDS1M},
			want:   OptNeg{Version: 6},
		},
		{
			name:   "symlists imply SETSYMLIST",
			mta:    postfixOffer,
			filter: OptNeg{Version: 6, SymLists: []SetSymList{{Stage: MacroConnect, Macros: "j"}}},
			want:   OptNeg{Version: 6, Actions: ActSetSymList, SymLists: []SetSymList{{Stage: MacroConnect, Macros: "j"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Negotiate(tt.mta, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestNegotiateErrors(t *testing.T) {
	tests := []struct {
		name        string
		mta, filter OptNeg
	}{
		{"MTA version 1", OptNeg{Version: 1, Actions: ActAll, Protocol: ProtoAll}, OptNeg{Version: 6}},
		{"filter version 0", postfixOffer, OptNeg{}},
		{"action not offered", OptNeg{Version: 6, Actions: ActV2, Protocol: ProtoAll}, OptNeg{Version: 6, Actions: ActChangeFrom}},
		{"action outside V1 default", OptNeg{Version: 6, Protocol: ProtoAll}, OptNeg{Version: 6, Actions: ActQuarantine}},
		{"symlist not offered", OptNeg{Version: 6, Actions: ActV2, Protocol: ProtoAll},
			OptNeg{Version: 6, SymLists: []SetSymList{{Stage: 0, Macros: "j"}}}},
		{"RCPT_REJ not offered", OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoV2}, OptNeg{Version: 6, Protocol: ProtoRcptRej}},
		{"HDR_LEADSPC not offered", OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoV2}, OptNeg{Version: 6, Protocol: ProtoHdrLeadSpace}},
		{"NOEOH not offered", OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoNoConnect}, OptNeg{Version: 6, Protocol: ProtoNoEOH}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Negotiate(tt.mta, tt.filter)
			if !errors.Is(err, ErrNegotiation) {
				t.Fatalf("error %v, want ErrNegotiation (result %v)", err, got)
			}
		})
	}
}

func TestCheckReply(t *testing.T) {
	offer := OptNeg{Version: 6, Actions: ActAll, Protocol: ProtoAll | ProtoMDS256K}
	reply := OptNeg{
		Version:  6,
		Actions:  ActAddHeader | ActSetSymList,
		Protocol: ProtoNRHeader | ProtoMDS1M | 0x00800000, // an unoffered bit is kept
		SymLists: []SetSymList{{Stage: MacroEOM, Macros: "i"}},
	}
	got, err := CheckReply(offer, reply)
	if err != nil {
		t.Fatal(err)
	}
	want := OptNeg{
		Version:  6,
		Actions:  ActAddHeader | ActSetSymList,
		Protocol: ProtoNRHeader | ProtoMDS256K | 0x00800000,
		SymLists: []SetSymList{{Stage: MacroEOM, Macros: "i"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	got.SymLists[0].Macros = "changed"
	if reply.SymLists[0].Macros != "i" {
		t.Fatal("CheckReply result shares SymLists with its argument")
	}

	bad := []OptNeg{
		{Version: 7, Actions: ActAddHeader},
		{Version: 1},
		{Version: 6, Actions: ActAll | 0x200},
	}
	for _, r := range bad {
		if _, err := CheckReply(offer, r); !errors.Is(err, ErrNegotiation) {
			t.Errorf("CheckReply(%v): error %v, want ErrNegotiation", r, err)
		}
	}
}

func TestMaxPacketFor(t *testing.T) {
	tests := []struct {
		p           ProtoFlags
		chunk, pack int
	}{
		{0, 65535, 65535 + 1024},
		{ProtoAll, 65535, DefaultMaxPacket},
		{ProtoMDS256K, 262143, 262143 + 1024},
		{ProtoMDS1M, 1048575, 1048575 + 1024},
		{ProtoMDS1M | ProtoMDS256K, 1048575, 1048575 + 1024},
	}
	for _, tt := range tests {
		if got := MaxChunkFor(tt.p); got != tt.chunk {
			t.Errorf("MaxChunkFor(%v) = %d, want %d", tt.p, got, tt.chunk)
		}
		if got := MaxPacketFor(tt.p); got != tt.pack {
			t.Errorf("MaxPacketFor(%v) = %d, want %d", tt.p, got, tt.pack)
		}
	}
}
