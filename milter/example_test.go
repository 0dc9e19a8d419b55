package milter_test

import (
	"bytes"
	"fmt"

	"github.com/sluice-mta/sluice/milter"
)

// The MTA side writes commands; the filter side reads, decodes and
// answers them. Here both ends share one buffer.
func Example() {
	var wire bytes.Buffer

	// MTA side: offer options, then report a connection.
	mta := milter.NewWriter(&wire)
	offer := milter.OptNeg{Version: milter.ProtocolVersion, Actions: milter.ActAll, Protocol: milter.ProtoAll}
	for _, c := range []milter.Command{
		offer,
		milter.Macro{Stage: milter.CmdConnect, Pairs: []string{"j", "mx.example.org"}},
		milter.Connect{Hostname: "client.example.net", Family: milter.FamilyInet, Port: 54321, Address: "192.0.2.10"},
	} {
		if err := mta.WritePacket(c.Encode()); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := mta.Flush(); err != nil {
		fmt.Println(err)
		return
	}

	// Filter side.
	r := milter.NewReader(&wire, 0)
	for range 3 {
		p, err := r.ReadPacket()
		if err != nil {
			fmt.Println(err)
			return
		}
		cmd, err := milter.DecodeCommand(p)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(cmd)
		if o, ok := cmd.(milter.OptNeg); ok {
			agreed, err := milter.Negotiate(o, milter.OptNeg{
				Version:  milter.ProtocolVersion,
				Actions:  milter.ActAddHeader,
				Protocol: milter.ProtoNoBody | milter.ProtoNRHeader,
			})
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Println("agreed:", agreed)
			r.SetMaxLen(milter.MaxPacketFor(agreed.Protocol))
		}
	}
	// Output:
	// OptNeg{version=6 actions=ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM|ADDRCPT_PAR|SETSYMLIST protocol=NOCONNECT|NOHELO|NOMAIL|NORCPT|NOBODY|NOHDRS|NOEOH|NR_HDR|NOUNKNOWN|NODATA|SKIP|RCPT_REJ|NR_CONN|NR_HELO|NR_MAIL|NR_RCPT|NR_DATA|NR_UNKN|NR_EOH|NR_BODY|HDR_LEADSPC}
	// agreed: OptNeg{version=6 actions=ADDHDRS protocol=NOBODY|NR_HDR}
	// Macro{stage=C j="mx.example.org"}
	// Connect{host="client.example.net" family=4 addr="192.0.2.10" port=54321}
}

func ExampleNewReplyCode() {
	r, err := milter.NewReplyCode(550, "5.7.1", "Message rejected", "See https://example.org/policy")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", r.Text)
	fmt.Println(r.SMTPCode(), r.Enhanced(), r.Lines())
	// Output:
	// "550-5.7.1 Message rejected\r\n550 5.7.1 See https://example.org/policy"
	// 550 5.7.1 [Message rejected See https://example.org/policy]
}

func ExampleProtoFlags_ReplyExpected() {
	agreed := milter.ProtoNRHeader | milter.ProtoNoHelo
	for _, cmd := range []byte{milter.CmdHelo, milter.CmdHeader, milter.CmdEndOfHeaders, milter.CmdMacro} {
		fmt.Printf("%s: sent=%v reply=%v\n", milter.CommandName(cmd), !agreed.Skips(cmd), agreed.ReplyExpected(cmd))
	}
	// Output:
	// SMFIC_HELO: sent=false reply=true
	// SMFIC_HEADER: sent=true reply=false
	// SMFIC_EOH: sent=true reply=true
	// SMFIC_MACRO: sent=true reply=false
}
