package milter

import (
	"strconv"
	"strings"
)

// ActionFlags are the SMFIF_* bits of SMFIC_OPTNEG: in the MTA's offer, the
// modifications it can apply; in the filter's answer, the ones the filter
// may request at end of message.
type ActionFlags uint32

// Action flags (SMFIF_* in libmilter's mfapi.h).
const (
	ActAddHeader    ActionFlags = 0x001 // SMFIF_ADDHDRS: add (and insert) headers
	ActChangeBody   ActionFlags = 0x002 // SMFIF_CHGBODY: replace the body
	ActAddRcpt      ActionFlags = 0x004 // SMFIF_ADDRCPT: add recipients
	ActDelRcpt      ActionFlags = 0x008 // SMFIF_DELRCPT: delete recipients
	ActChangeHeader ActionFlags = 0x010 // SMFIF_CHGHDRS: change or delete headers
	ActQuarantine   ActionFlags = 0x020 // SMFIF_QUARANTINE: quarantine the message
	ActChangeFrom   ActionFlags = 0x040 // SMFIF_CHGFROM: change the envelope sender
	ActAddRcptPar   ActionFlags = 0x080 // SMFIF_ADDRCPT_PAR: add recipients with ESMTP args
	ActSetSymList   ActionFlags = 0x100 // SMFIF_SETSYMLIST: send macro lists in OPTNEG

	// ActV1 is what libmilter assumes when an MTA offers no actions at all
	// (SMFI_V1_ACTS).
	ActV1 ActionFlags = 0x00F
	// ActV2 is SMFI_V2_ACTS.
	ActV2 ActionFlags = 0x03F
	// ActAll is every action defined by protocol version 6 (SMFI_CURR_ACTS).
	ActAll ActionFlags = 0x1FF
)

// ProtoFlags are the SMFIP_* bits of SMFIC_OPTNEG: stages the filter does
// not want to receive (No…), stages it will not reply to (NR…), and
// protocol extensions.
type ProtoFlags uint32

// Protocol flags (SMFIP_* in libmilter's mfdef.h).
const (
	ProtoNoConnect    ProtoFlags = 0x00000001 // SMFIP_NOCONNECT: do not send SMFIC_CONNECT
	ProtoNoHelo       ProtoFlags = 0x00000002 // SMFIP_NOHELO: do not send SMFIC_HELO
	ProtoNoMail       ProtoFlags = 0x00000004 // SMFIP_NOMAIL: do not send SMFIC_MAIL
	ProtoNoRcpt       ProtoFlags = 0x00000008 // SMFIP_NORCPT: do not send SMFIC_RCPT
	ProtoNoBody       ProtoFlags = 0x00000010 // SMFIP_NOBODY: do not send SMFIC_BODY
	ProtoNoHeaders    ProtoFlags = 0x00000020 // SMFIP_NOHDRS: do not send SMFIC_HEADER
	ProtoNoEOH        ProtoFlags = 0x00000040 // SMFIP_NOEOH: do not send SMFIC_EOH
	ProtoNRHeader     ProtoFlags = 0x00000080 // SMFIP_NR_HDR (SMFIP_NOHREPL): no reply to headers
	ProtoNoUnknown    ProtoFlags = 0x00000100 // SMFIP_NOUNKNOWN: do not send SMFIC_UNKNOWN
	ProtoNoData       ProtoFlags = 0x00000200 // SMFIP_NODATA: do not send SMFIC_DATA
	ProtoSkip         ProtoFlags = 0x00000400 // SMFIP_SKIP: MTA understands SMFIR_SKIP
	ProtoRcptRej      ProtoFlags = 0x00000800 // SMFIP_RCPT_REJ: also send rejected RCPTs
	ProtoNRConnect    ProtoFlags = 0x00001000 // SMFIP_NR_CONN: no reply to connect
	ProtoNRHelo       ProtoFlags = 0x00002000 // SMFIP_NR_HELO: no reply to HELO
	ProtoNRMail       ProtoFlags = 0x00004000 // SMFIP_NR_MAIL: no reply to MAIL
	ProtoNRRcpt       ProtoFlags = 0x00008000 // SMFIP_NR_RCPT: no reply to RCPT
	ProtoNRData       ProtoFlags = 0x00010000 // SMFIP_NR_DATA: no reply to DATA
	ProtoNRUnknown    ProtoFlags = 0x00020000 // SMFIP_NR_UNKN: no reply to unknown commands
	ProtoNREOH        ProtoFlags = 0x00040000 // SMFIP_NR_EOH: no reply to end of headers
	ProtoNRBody       ProtoFlags = 0x00080000 // SMFIP_NR_BODY: no reply to body chunks
	ProtoHdrLeadSpace ProtoFlags = 0x00100000 // SMFIP_HDR_LEADSPC: header values keep their leading space
	ProtoMDS256K      ProtoFlags = 0x10000000 // SMFIP_MDS_256K: packets up to 256 KiB
	ProtoMDS1M        ProtoFlags = 0x20000000 // SMFIP_MDS_1M: packets up to 1 MiB
)

// Groups of protocol flags.
const (
	// ProtoNoSendMask is every "do not send this stage" bit
	// (SMFIP_NOSEND_MASK in Postfix).
	ProtoNoSendMask = ProtoNoConnect | ProtoNoHelo | ProtoNoMail | ProtoNoRcpt |
		ProtoNoBody | ProtoNoHeaders | ProtoNoEOH | ProtoNoUnknown | ProtoNoData
	// ProtoNoReplyMask is every "no reply for this stage" bit
	// (SMFIP_NOREPLY_MASK in Postfix).
	ProtoNoReplyMask = ProtoNRConnect | ProtoNRHelo | ProtoNRMail | ProtoNRRcpt |
		ProtoNRData | ProtoNRUnknown | ProtoNRHeader | ProtoNREOH | ProtoNRBody
	// ProtoMDSMask is the two maximum-data-size bits.
	ProtoMDSMask = ProtoMDS256K | ProtoMDS1M
	// ProtoV1 is what libmilter assumes when an MTA offers no protocol bits
	// (SMFI_V1_PROT).
	ProtoV1 ProtoFlags = 0x0000003F
	// ProtoV2 is SMFI_V2_PROT.
	ProtoV2 ProtoFlags = 0x0000007F
	// ProtoAll is every stage and extension bit of protocol version 6
	// (SMFI_CURR_PROT), without the data-size bits.
	ProtoAll ProtoFlags = 0x001FFFFF
)

// Macro stages (SMFIM_* in mfapi.h): the index of a macro list in
// SMFIR_SETSYMLIST and in the OPTNEG reply.
const (
	MacroConnect = 0 // SMFIM_CONNECT
	MacroHelo    = 1 // SMFIM_HELO
	MacroMail    = 2 // SMFIM_ENVFROM
	MacroRcpt    = 3 // SMFIM_ENVRCPT
	MacroData    = 4 // SMFIM_DATA
	MacroEOM     = 5 // SMFIM_EOM
	MacroEOH     = 6 // SMFIM_EOH
)

// stageCommands maps a macro stage to the command its macros precede.
var stageCommands = [...]byte{
	MacroConnect: CmdConnect,
	MacroHelo:    CmdHelo,
	MacroMail:    CmdMail,
	MacroRcpt:    CmdRcpt,
	MacroData:    CmdData,
	MacroEOM:     CmdEndOfBody,
	MacroEOH:     CmdEndOfHeaders,
}

// MacroStageFor maps a command code to its macro stage (SMFIM_*): the
// stage whose macro list the MTA sends in an SMFIC_MACRO just before that
// command. ok is false for commands that have no macro stage.
func MacroStageFor(cmd byte) (stage int, ok bool) {
	for s, c := range stageCommands {
		if c == cmd {
			return s, true
		}
	}
	return -1, false
}

// CommandForMacroStage is the inverse of MacroStageFor.
func CommandForMacroStage(stage int) (cmd byte, ok bool) {
	if stage < 0 || stage >= len(stageCommands) {
		return 0, false
	}
	return stageCommands[stage], true
}

// stageBits maps a command to its "do not send" and "no reply" bits.
var stageBits = map[byte][2]ProtoFlags{
	CmdConnect:      {ProtoNoConnect, ProtoNRConnect},
	CmdHelo:         {ProtoNoHelo, ProtoNRHelo},
	CmdMail:         {ProtoNoMail, ProtoNRMail},
	CmdRcpt:         {ProtoNoRcpt, ProtoNRRcpt},
	CmdData:         {ProtoNoData, ProtoNRData},
	CmdUnknown:      {ProtoNoUnknown, ProtoNRUnknown},
	CmdHeader:       {ProtoNoHeaders, ProtoNRHeader},
	CmdEndOfHeaders: {ProtoNoEOH, ProtoNREOH},
	CmdBody:         {ProtoNoBody, ProtoNRBody},
}

// Skips reports whether, under the agreed flags p, the MTA must not send
// command cmd at all (an SMFIP_NO* bit is set for it).
func (p ProtoFlags) Skips(cmd byte) bool {
	b, ok := stageBits[cmd]
	return ok && p&b[0] != 0
}

// ReplyExpected reports whether, under the agreed flags p, the filter
// answers command cmd. SMFIC_MACRO, SMFIC_ABORT, SMFIC_QUIT and
// SMFIC_QUIT_NC never get a reply; SMFIC_OPTNEG and SMFIC_BODYEOB always
// do; the stage commands do unless their SMFIP_NR_* bit is set.
func (p ProtoFlags) ReplyExpected(cmd byte) bool {
	switch cmd {
	case CmdMacro, CmdAbort, CmdQuit, CmdQuitNewConn:
		return false
	case CmdOptNeg, CmdEndOfBody:
		return true
	}
	b, ok := stageBits[cmd]
	if !ok {
		return false
	}
	return p&b[1] == 0
}

// RequiredAction returns the action flag a filter must have negotiated
// before it may send reply code resp, or 0 when the reply needs none.
// SMFIR_INSHEADER needs SMFIF_ADDHDRS, as in libmilter.
func RequiredAction(resp byte) ActionFlags {
	switch resp {
	case RespAddHeader, RespInsertHeader:
		return ActAddHeader
	case RespChangeHeader:
		return ActChangeHeader
	case RespReplaceBody:
		return ActChangeBody
	case RespAddRcpt:
		return ActAddRcpt
	case RespAddRcptPar:
		return ActAddRcptPar
	case RespDelRcpt:
		return ActDelRcpt
	case RespChangeFrom:
		return ActChangeFrom
	case RespQuarantine:
		return ActQuarantine
	case RespSetSymList:
		return ActSetSymList
	}
	return 0
}

var actionNames = []string{
	"ADDHDRS", "CHGBODY", "ADDRCPT", "DELRCPT", "CHGHDRS",
	"QUARANTINE", "CHGFROM", "ADDRCPT_PAR", "SETSYMLIST",
}

var protoNames = map[ProtoFlags]string{
	ProtoNoConnect: "NOCONNECT", ProtoNoHelo: "NOHELO", ProtoNoMail: "NOMAIL",
	ProtoNoRcpt: "NORCPT", ProtoNoBody: "NOBODY", ProtoNoHeaders: "NOHDRS",
	ProtoNoEOH: "NOEOH", ProtoNRHeader: "NR_HDR", ProtoNoUnknown: "NOUNKNOWN",
	ProtoNoData: "NODATA", ProtoSkip: "SKIP", ProtoRcptRej: "RCPT_REJ",
	ProtoNRConnect: "NR_CONN", ProtoNRHelo: "NR_HELO", ProtoNRMail: "NR_MAIL",
	ProtoNRRcpt: "NR_RCPT", ProtoNRData: "NR_DATA", ProtoNRUnknown: "NR_UNKN",
	ProtoNREOH: "NR_EOH", ProtoNRBody: "NR_BODY", ProtoHdrLeadSpace: "HDR_LEADSPC",
	ProtoMDS256K: "MDS_256K", ProtoMDS1M: "MDS_1M",
}

// String lists the set flags by their libmilter names without the SMFIF_
// prefix, e.g. "ADDHDRS|CHGHDRS"; unknown bits are shown in hex; no flags
// is "0".
func (a ActionFlags) String() string {
	return flagString(uint32(a), func(bit uint32) string {
		for i, n := range actionNames {
			if bit == 1<<i {
				return n
			}
		}
		return ""
	})
}

// String lists the set flags by their libmilter names without the SMFIP_
// prefix, e.g. "NOHELO|NR_HDR|SKIP"; unknown bits are shown in hex; no
// flags is "0".
func (p ProtoFlags) String() string {
	return flagString(uint32(p), func(bit uint32) string {
		return protoNames[ProtoFlags(bit)]
	})
}

func flagString(v uint32, name func(bit uint32) string) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	var unknown uint32
	for i := range 32 {
		bit := uint32(1) << i
		if v&bit == 0 {
			continue
		}
		n := name(bit)
		if n == "" {
			unknown |= bit
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n)
	}
	if unknown != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(uint64(unknown), 16))
	}
	return b.String()
}
