package miltersrv

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// maxVersion is the milter protocol version the server speaks.
const maxVersion = 6

// stageFlags maps a stage to its "do not send" and "no reply" bits.
var stageFlags = [...]struct {
	stage     filter.Stage
	skip, nr  milter.ProtoFlags
	macroCode uint32
}{
	{filter.StageConnect, milter.ProtoNoConnect, milter.ProtoNRConnect, milter.MacroConnect},
	{filter.StageHelo, milter.ProtoNoHelo, milter.ProtoNRHelo, milter.MacroHelo},
	{filter.StageMail, milter.ProtoNoMail, milter.ProtoNRMail, milter.MacroMail},
	{filter.StageRcpt, milter.ProtoNoRcpt, milter.ProtoNRRcpt, milter.MacroRcpt},
	{filter.StageData, milter.ProtoNoData, milter.ProtoNRData, milter.MacroData},
	{filter.StageHeader, milter.ProtoNoHeaders, milter.ProtoNRHeader, ^uint32(0)},
	{filter.StageEndOfHeaders, milter.ProtoNoEOH, milter.ProtoNREOH, milter.MacroEOH},
	{filter.StageBody, milter.ProtoNoBody, milter.ProtoNRBody, ^uint32(0)},
	{filter.StageEndOfMessage, 0, 0, milter.MacroEOM},
	{filter.StageUnknown, milter.ProtoNoUnknown, milter.ProtoNRUnknown, ^uint32(0)},
}

// editActions maps the filter's edit kinds to the SMFIF_* action flags.
var editActions = [...]struct {
	edit filter.EditSet
	act  milter.ActionFlags
}{
	{filter.EditAddHeader, milter.ActAddHeader},
	{filter.EditInsertHeader, milter.ActAddHeader},
	{filter.EditChangeHeader, milter.ActChangeHeader},
	{filter.EditAddRecipient, milter.ActAddRcpt},
	{filter.EditAddRecipientParams, milter.ActAddRcptPar},
	{filter.EditDeleteRecipient, milter.ActDelRcpt},
	{filter.EditChangeSender, milter.ActChangeFrom},
	{filter.EditReplaceBody, milter.ActChangeBody},
	{filter.EditQuarantine, milter.ActQuarantine},
}

func actionsFor(edits filter.EditSet) milter.ActionFlags {
	var a milter.ActionFlags
	for _, ea := range editActions {
		if edits.Has(ea.edit) {
			a |= ea.act
		}
	}
	return a
}

// editsFor returns the edits the negotiated actions permit.
func editsFor(a milter.ActionFlags) filter.EditSet {
	var e filter.EditSet
	for _, ea := range editActions {
		if a&ea.act != 0 {
			e |= ea.edit
		}
	}
	return e
}

// session parameters agreed with the MTA.
type negotiated struct {
	version  uint32
	actions  milter.ActionFlags
	protocol milter.ProtoFlags
	chunk    int // largest body chunk we may send in SMFIR_REPLBODY
}

func (n negotiated) noReply(st filter.Stage) bool {
	for _, sf := range stageFlags {
		if sf.stage == st {
			return sf.nr != 0 && n.protocol&sf.nr != 0
		}
	}
	return false
}

// negotiate answers the MTA's SMFIC_OPTNEG for a filter with needs, and
// returns what was agreed and the reply. It fails, as libmilter does, when
// the MTA does not offer an action the filter declared.
func negotiate(mta milter.OptNeg, needs filter.Needs, maxPacket int) (negotiated, milter.OptNeg, error) {
	if mta.Version < 2 {
		return negotiated{}, milter.OptNeg{}, fmt.Errorf("MTA speaks milter protocol version %d, want at least 2", mta.Version)
	}
	n := negotiated{version: min(mta.Version, maxVersion), chunk: 65535}
	want := actionsFor(needs.Edits)
	if missing := want &^ mta.Actions; missing != 0 {
		return negotiated{}, milter.OptNeg{}, fmt.Errorf("MTA does not offer the actions the filter needs (missing %v)", missing)
	}
	n.actions = want
	if len(needs.Macros) > 0 && mta.Actions&milter.ActSetSymList != 0 && n.version >= 6 {
		n.actions |= milter.ActSetSymList
	}
	n.protocol = protocolFor(mta.Protocol, needs)
	switch {
	case mta.Protocol&milter.ProtoMDS1M != 0 && maxPacket >= milter.MaxPacketFor(milter.ProtoMDS1M):
		n.protocol |= milter.ProtoMDS1M
		n.chunk = 1<<20 - 1
	case mta.Protocol&milter.ProtoMDS256K != 0 && maxPacket >= milter.MaxPacketFor(milter.ProtoMDS256K):
		n.protocol |= milter.ProtoMDS256K
		n.chunk = 1<<18 - 1
	}
	reply := milter.OptNeg{Version: n.version, Actions: n.actions, Protocol: n.protocol}
	if n.actions&milter.ActSetSymList != 0 {
		reply.SymLists = symLists(needs.Macros)
	}
	return n, reply, nil
}

func protocolFor(offered milter.ProtoFlags, needs filter.Needs) milter.ProtoFlags {
	var p milter.ProtoFlags
	for _, sf := range stageFlags {
		if needs.Skip.Has(sf.stage) {
			p |= sf.skip & offered
		}
		if needs.NoReply.Has(sf.stage) {
			p |= sf.nr & offered
		}
	}
	p |= milter.ProtoSkip & offered
	if needs.RejectedRecipients {
		p |= milter.ProtoRcptRej & offered
	}
	if needs.HeaderLeadingSpace {
		p |= milter.ProtoHdrLeadSpace & offered
	}
	return p
}

// symLists turns the declared macros into the per-stage lists of the
// negotiation reply, in stage order.
func symLists(macros map[filter.Stage][]string) []milter.SetSymList {
	var out []milter.SetSymList
	for _, sf := range stageFlags {
		names, ok := macros[sf.stage]
		if !ok || sf.macroCode == ^uint32(0) {
			continue
		}
		wire := make([]string, len(names))
		for i, n := range names {
			wire[i] = filter.WireMacro(n)
		}
		if sf.stage == filter.StageConnect && !slices.Contains(wire, "j") {
			wire = append(wire, "j") // the server reads it itself (connFacts)
		}
		out = append(out, milter.SetSymList{Stage: sf.macroCode, Macros: strings.Join(wire, " ")})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Stage < out[j].Stage })
	return out
}
