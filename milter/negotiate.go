package milter

import (
	"fmt"
	"strconv"
	"strings"
)

// OptNeg is SMFIC_OPTNEG. The MTA sends it first, as its offer: its
// highest protocol version, the actions it can apply and the protocol bits
// it understands. The filter answers with an OptNeg of its own: the
// version, actions and protocol bits it wants, and optionally the macro
// lists it wants per stage.
type OptNeg struct {
	Version  uint32
	Actions  ActionFlags
	Protocol ProtoFlags
	// SymLists are the filter's macro lists (libmilter's smfi_setsymlist),
	// sent after the three numbers in its reply; they need ActSetSymList.
	// An MTA's offer has none. nil when absent.
	SymLists []SetSymList
}

// Code returns CmdOptNeg.
func (OptNeg) Code() byte { return CmdOptNeg }

// Encode builds the packet: three uint32, then each macro list.
func (o OptNeg) Encode() Packet {
	n := 12
	for _, s := range o.SymLists {
		n += 4 + cstrLen(s.Macros)
	}
	b := make([]byte, 0, n)
	b = appendU32(b, o.Version)
	b = appendU32(b, uint32(o.Actions))
	b = appendU32(b, uint32(o.Protocol))
	for _, s := range o.SymLists {
		b = appendSymList(b, s)
	}
	return Packet{Code: CmdOptNeg, Data: b}
}

// String describes the negotiation for logs.
func (o OptNeg) String() string {
	var b strings.Builder
	b.WriteString("OptNeg{version=")
	b.WriteString(strconv.FormatUint(uint64(o.Version), 10))
	b.WriteString(" actions=")
	b.WriteString(o.Actions.String())
	b.WriteString(" protocol=")
	b.WriteString(o.Protocol.String())
	for _, s := range o.SymLists {
		b.WriteString(" symlist[")
		b.WriteString(strconv.FormatUint(uint64(s.Stage), 10))
		b.WriteString("]=")
		b.WriteString(q(s.Macros))
	}
	b.WriteByte('}')
	return b.String()
}

// decodeOptNeg parses OPTNEG; only a reply may carry macro lists.
func decodeOptNeg(p Packet, reply bool) (OptNeg, error) {
	f := newFields(p)
	var o OptNeg
	v, err := f.u32("version")
	if err != nil {
		return OptNeg{}, err
	}
	a, err := f.u32("actions")
	if err != nil {
		return OptNeg{}, err
	}
	pr, err := f.u32("protocol")
	if err != nil {
		return OptNeg{}, err
	}
	o.Version, o.Actions, o.Protocol = v, ActionFlags(a), ProtoFlags(pr)
	if !reply {
		if err := f.end(); err != nil {
			return OptNeg{}, err
		}
		return o, nil
	}
	for len(f.s) > 0 {
		if len(o.SymLists) == MaxStrings {
			return OptNeg{}, f.malformed("more than %d macro lists", MaxStrings)
		}
		s, err := f.symList()
		if err != nil {
			return OptNeg{}, err
		}
		o.SymLists = append(o.SymLists, s)
	}
	return o, nil
}

// dropIfUnoffered are the protocol bits a filter's wish for which silently
// lapses when the MTA does not offer them, as in libmilter: it then has to
// reply to (NR_*), or receive (NODATA, NOUNKNOWN), those events after all,
// and must not send SMFIR_SKIP.
const dropIfUnoffered = ProtoNoReplyMask | ProtoNoData | ProtoNoUnknown | ProtoSkip

// Negotiate computes the filter's answer to the MTA's offer, following
// libmilter (engine.c, st_optionneg). filter holds what the filter
// supports and wants; the result is what both sides then use, and what the
// filter sends back.
//
//   - Version: the lower of the two. Either side below MinProtocolVersion
//     is an error.
//   - Actions: the filter's, plus ActSetSymList when it has SymLists. An
//     action the MTA does not offer is an error (an offer of 0 means
//     ActV1, as in libmilter).
//   - Protocol: the filter's bits, minus the NR_*, SKIP, NODATA and
//     NOUNKNOWN bits the MTA does not offer (so the filter must reply to,
//     or receive, those events after all: act on the result, not on the
//     wish). Any other bit the MTA does not offer is an error (an offer of
//     0 means ProtoV1). Data size: the smaller of the two sides' MDS bits
//     (none means 64 KiB).
//   - SymLists: the filter's.
//
// Errors wrap ErrNegotiation.
func Negotiate(mta, filter OptNeg) (OptNeg, error) {
	if mta.Version < MinProtocolVersion {
		return OptNeg{}, fmt.Errorf("%w: MTA protocol version %d is below %d",
			ErrNegotiation, mta.Version, MinProtocolVersion)
	}
	if filter.Version < MinProtocolVersion {
		return OptNeg{}, fmt.Errorf("%w: filter protocol version %d is below %d",
			ErrNegotiation, filter.Version, MinProtocolVersion)
	}
	offerActs := mta.Actions
	if offerActs == 0 {
		offerActs = ActV1
	}
	acts := filter.Actions
	if len(filter.SymLists) > 0 {
		acts |= ActSetSymList
	}
	if missing := acts &^ offerActs; missing != 0 {
		return OptNeg{}, fmt.Errorf("%w: MTA does not offer actions %s (offers %s)",
			ErrNegotiation, missing, offerActs)
	}
	offerProto := mta.Protocol
	if offerProto == 0 {
		offerProto = ProtoV1
	}
	proto := filter.Protocol &^ ProtoMDSMask
	proto &^= dropIfUnoffered &^ offerProto
	if missing := proto &^ offerProto; missing != 0 {
		return OptNeg{}, fmt.Errorf("%w: MTA does not offer protocol steps %s (offers %s)",
			ErrNegotiation, missing, offerProto)
	}
	proto |= smallerMDS(offerProto, filter.Protocol)
	return OptNeg{
		Version:  min(mta.Version, filter.Version),
		Actions:  acts,
		Protocol: proto,
		SymLists: cloneSymLists(filter.SymLists),
	}, nil
}

// CheckReply checks the filter's answer against the MTA's offer, following
// Postfix (milter8.c): the answer's version must be at least
// MinProtocolVersion and at most the offer's, and it must not ask for an
// action that was not offered. The result is the answer, with its data
// size (MDS bits) cut down to what was offered. Other protocol bits are
// kept even if they were not offered: a filter that said it will not reply
// to a stage will not, so waiting for a reply would only time out.
//
// Errors wrap ErrNegotiation.
func CheckReply(offer, reply OptNeg) (OptNeg, error) {
	if reply.Version < MinProtocolVersion || reply.Version > offer.Version {
		return OptNeg{}, fmt.Errorf("%w: filter protocol version %d, MTA offers %d to %d",
			ErrNegotiation, reply.Version, MinProtocolVersion, offer.Version)
	}
	if missing := reply.Actions &^ offer.Actions; missing != 0 {
		return OptNeg{}, fmt.Errorf("%w: filter asks for actions %s not offered (offered %s)",
			ErrNegotiation, missing, offer.Actions)
	}
	out := reply
	out.Protocol = reply.Protocol&^ProtoMDSMask | smallerMDS(offer.Protocol, reply.Protocol)
	out.SymLists = cloneSymLists(reply.SymLists)
	return out, nil
}

// mdsRank orders the data-size bits: 0 (64 KiB), 1 (256 KiB), 2 (1 MiB).
func mdsRank(p ProtoFlags) int {
	switch {
	case p&ProtoMDS1M != 0:
		return 2
	case p&ProtoMDS256K != 0:
		return 1
	}
	return 0
}

func smallerMDS(a, b ProtoFlags) ProtoFlags {
	return [...]ProtoFlags{0, ProtoMDS256K, ProtoMDS1M}[min(mdsRank(a), mdsRank(b))]
}

func cloneSymLists(s []SetSymList) []SetSymList {
	if len(s) == 0 {
		return nil
	}
	return append([]SetSymList(nil), s...)
}

// MaxPacketFor returns the packet length limit for a Reader once protocol
// flags p are agreed: 1 MiB plus slack with SMFIP_MDS_1M, 256 KiB plus
// slack with SMFIP_MDS_256K, else DefaultMaxPacket.
func MaxPacketFor(p ProtoFlags) int { return MaxChunkFor(p) + packetSlack }

// MaxChunkFor returns the largest body chunk an MTA sends (and a filter's
// SMFIR_REPLBODY chunk should hold) once protocol flags p are agreed:
// ChunkSize1M, ChunkSize256K or ChunkSize.
func MaxChunkFor(p ProtoFlags) int {
	return [...]int{ChunkSize, ChunkSize256K, ChunkSize1M}[mdsRank(p)]
}
