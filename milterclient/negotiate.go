package milterclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// numStages is the number of filter stages.
const numStages = int(filter.StageUnknown) + 1

// Negotiation is what the milter agreed to in option negotiation.
type Negotiation struct {
	// Version is the protocol version the milter speaks (2 to 6).
	Version uint32
	// Actions are the modifications it may request (SMFIF_*).
	Actions milter.ActionFlags
	// Protocol are its protocol flags (SMFIP_*): stages it does not want,
	// stages it does not answer, extensions, and the agreed data size.
	Protocol milter.ProtoFlags
	// Macros are the macro lists it asked for per stage
	// (SMFIR_SETSYMLIST), nil when it asked for none.
	Macros map[filter.Stage][]string
}

// symListStages maps an SMFIM_* macro stage to the filter stage whose
// command the macros precede.
var symListStages = [...]filter.Stage{
	milter.MacroConnect: filter.StageConnect,
	milter.MacroHelo:    filter.StageHelo,
	milter.MacroMail:    filter.StageMail,
	milter.MacroRcpt:    filter.StageRcpt,
	milter.MacroData:    filter.StageData,
	milter.MacroEOM:     filter.StageEndOfMessage,
	milter.MacroEOH:     filter.StageEndOfHeaders,
}

// stageCommands maps a filter stage to its command code.
var stageCommands = [numStages]byte{
	filter.StageConnect:      milter.CmdConnect,
	filter.StageHelo:         milter.CmdHelo,
	filter.StageMail:         milter.CmdMail,
	filter.StageRcpt:         milter.CmdRcpt,
	filter.StageData:         milter.CmdData,
	filter.StageHeader:       milter.CmdHeader,
	filter.StageEndOfHeaders: milter.CmdEndOfHeaders,
	filter.StageBody:         milter.CmdBody,
	filter.StageEndOfMessage: milter.CmdEndOfBody,
	filter.StageUnknown:      milter.CmdUnknown,
}

// negotiated is a session's view of the negotiation.
type negotiated struct {
	Negotiation
	macros   [numStages][]string // wire names to send per stage
	maxChunk int                 // largest body chunk to send
}

// knows reports whether the milter's protocol version has command cmd:
// SMFIC_DATA came with version 4, SMFIC_UNKNOWN with version 3. Neither
// the command nor its macros go to an older milter (libmilter would fail
// on macros for a stage it does not know).
func (n *negotiated) knows(cmd byte) bool {
	return (cmd != milter.CmdData || n.Version >= 4) && (cmd != milter.CmdUnknown || n.Version >= 3)
}

// sends reports whether the milter gets command cmd: its version knows
// the command and it did not ask to skip it (SMFIP_NO*).
func (n *negotiated) sends(cmd byte) bool {
	return n.knows(cmd) && !n.Protocol.Skips(cmd)
}

func (n *negotiated) has(p milter.ProtoFlags) bool { return n.Protocol&p != 0 }

// negotiate sends the offer on c and checks the milter's answer.
func (m *Milter) negotiate(ctx context.Context, c *wireConn) (*negotiated, error) {
	offer := milter.OptNeg{Version: m.opts.Version, Actions: m.opts.Actions, Protocol: m.opts.Protocol}
	stop := c.watch(ctx)
	c.begin(m.opts.CommandTimeout)
	resp, err := m.optNeg(c, offer)
	if cerr := stop(); cerr != nil {
		return nil, fmt.Errorf("option negotiation: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("option negotiation: %w", err)
	}
	agreed, err := milter.CheckReply(offer, resp)
	if err != nil {
		return nil, err
	}
	n := &negotiated{
		Negotiation: Negotiation{Version: agreed.Version, Actions: agreed.Actions, Protocol: agreed.Protocol},
		macros:      m.macros,
		maxChunk:    milter.MaxChunkFor(agreed.Protocol),
	}
	for _, sl := range agreed.SymLists {
		if int(sl.Stage) >= len(symListStages) {
			m.log.Debug("milter asked for macros of an unknown stage; ignored", "stage", sl.Stage)
			continue
		}
		st := symListStages[sl.Stage]
		names := strings.FieldsFunc(sl.Macros, func(r rune) bool { return strings.ContainsRune(" ,\t\r\n", r) })
		if n.Macros == nil {
			n.Macros = map[filter.Stage][]string{}
		}
		n.Macros[st] = names
		n.macros[st] = wireNames(names)
	}
	c.r.SetMaxLen(max(m.opts.MaxPacket, milter.MaxPacketFor(agreed.Protocol)))
	return n, nil
}

func (m *Milter) optNeg(c *wireConn, offer milter.OptNeg) (milter.OptNeg, error) {
	if err := c.send(offer, false); err != nil {
		return milter.OptNeg{}, err
	}
	if err := c.flush(milter.CmdOptNeg); err != nil {
		return milter.OptNeg{}, err
	}
	resp, err := c.readReply(milter.CmdOptNeg, m.opts.CommandTimeout, nil)
	if err != nil {
		return milter.OptNeg{}, err
	}
	o, ok := resp.(milter.OptNeg)
	if !ok {
		return milter.OptNeg{}, errUnexpected(resp, milter.CmdOptNeg)
	}
	return o, nil
}

func wireNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = filter.WireMacro(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// editsFor returns the edits that the action flags a permit.
func editsFor(a milter.ActionFlags) filter.EditSet {
	var e filter.EditSet
	for _, ea := range [...]struct {
		act  milter.ActionFlags
		edit filter.EditSet
	}{
		{milter.ActAddHeader, filter.EditAddHeader | filter.EditInsertHeader},
		{milter.ActChangeHeader, filter.EditChangeHeader},
		{milter.ActAddRcpt, filter.EditAddRecipient},
		{milter.ActAddRcptPar, filter.EditAddRecipient | filter.EditAddRecipientParams},
		{milter.ActDelRcpt, filter.EditDeleteRecipient},
		{milter.ActChangeFrom, filter.EditChangeSender},
		{milter.ActChangeBody, filter.EditReplaceBody},
		{milter.ActQuarantine, filter.EditQuarantine},
	} {
		if a&ea.act != 0 {
			e |= ea.edit
		}
	}
	return e
}
