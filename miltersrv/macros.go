package miltersrv

import "github.com/sluice-mta/sluice/milter"

// macroStore keeps the macros the MTA sent, per command they preceded, and
// answers look-ups from the most recent stage back, as libmilter's
// smfi_getsymval does. A new MAIL (or an abort) forgets the transaction's
// macros; a new connect forgets everything.
type macroStore struct {
	// sets holds, per macroOrder index, the pairs as on the wire
	// (NUL-terminated names and values); the buffers are reused.
	sets [len(macroOrder)][]byte
}

// macroOrder lists the commands macros may precede, most recent stage
// first: the look-up order.
var macroOrder = [...]byte{
	milter.CmdEndOfBody, milter.CmdEndOfHeaders, milter.CmdHeader, milter.CmdBody,
	milter.CmdData, milter.CmdRcpt, milter.CmdMail, milter.CmdUnknown, milter.CmdHelo, milter.CmdConnect,
}

func macroIndex(code byte) int {
	for i, c := range macroOrder {
		if c == code {
			return i
		}
	}
	return -1
}

// set stores the pairs (as milter.ScanMacro returns them) sent before
// command code.
func (m *macroStore) set(code byte, pairs []byte) {
	switch code {
	case milter.CmdConnect:
		m.clear(0)
	case milter.CmdMail:
		m.clearTransaction()
	}
	if i := macroIndex(code); i >= 0 {
		m.sets[i] = append(m.sets[i][:0], pairs...)
	}
}

func (m *macroStore) clear(from int) {
	for i := from; i < len(m.sets); i++ {
		m.sets[i] = m.sets[i][:0]
	}
}

// clearTransaction forgets the macros of MAIL and later stages.
func (m *macroStore) clearTransaction() {
	for i := 0; i <= macroIndex(milter.CmdMail); i++ {
		m.sets[i] = m.sets[i][:0]
	}
}

// Macro implements filter.Macros.
func (m *macroStore) Macro(name string) (string, bool) {
	for _, pairs := range m.sets {
		if v, ok := milter.LookupMacro(pairs, name); ok {
			return v, true
		}
	}
	return "", false
}
