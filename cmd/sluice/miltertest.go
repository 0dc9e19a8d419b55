package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
)

// Exit codes of milter-test: the message's fate.
const (
	mtExitAccept   = 0 // accepted (continue or accept)
	mtExitReject   = 1 // rejected or discarded
	mtExitTempFail = 2 // temporary failure, or a broken milter
)

// mtDefaultTimeout bounds connect, each command and end of message.
const mtDefaultTimeout = 10 * time.Second

const milterTestLong = `milter-test plays the MTA for one message to the milter at ADDRESS
(unix:/path, inet:port@host, inet6:port@host, or Postfix's inet:host:port) with
sluice's milter client, as Postfix would: connect, HELO, MAIL, RCPT (each --to),
DATA, each header, end of headers, the body, end of message. The message is
--eml FILE (CRLF or LF line ends; folding and bytes kept; a leading mbox "From "
line is skipped) or a built-in sample. The macros are those Postfix sends by
default, with values from the flags ({client_addr}, _, {mail_addr}, {rcpt_addr}...,
queue ID i = MILTERTEST); --macro sets or overrides one at every stage.
--from and --to take an address and optional ESMTP parameters:
--to "bob@example.net NOTIFY=SUCCESS,FAILURE"; --from "" is the null sender.

It prints the negotiation (version, actions, protocol flags by name), each
stage's reply (verdict, custom reply, the milter's SMFIR_* answer or why
there was none, latency from the command to its reply), every edit, the
message as the edits leave it (headers, body, envelope) and the total time.
A stage that refuses ends the run, except RCPT: a refused recipient is left
out and the others go on (when every recipient is refused, the run ends
with tempfail if any was a temporary failure, else reject). Accept ends it
too: the message goes through as it is.

Exit code: 0 the message is accepted (continue or accept), 1 rejected or
discarded, 2 temporary failure or a broken milter (connection refused,
timeout, protocol error: the client's default action, tempfail, applies);
2 also for a bad command line.

--json prints one JSON document instead, with these fields:
  milter               ADDRESS as given
  negotiation          null when the milter was never reached, else
    version            protocol version agreed
    actions, protocol  flag names, e.g. ["ADDHDRS","CHGHDRS"], ["NOHELO","NR_HDR"]
    macros             {stage: [names]} the milter asked for (absent if none)
    latency_ms         connect and negotiation
  stages[]             one per stage driven, in order:
    stage              connect, helo, mail, rcpt, data, header, eoh, body, eom
    arg                what it carried: client, HELO name, address, header name, body size
    macros             {name: value} sent before the command, in order
    sent               the command went to the milter (false: skipped by
                       SMFIP_NO*, SMFIR_SKIP, or answered for the milter)
    response           the milter's answer (SMFIR_CONTINUE...), absent when none
    progress           SMFIR_PROGRESS received (absent when 0)
    verdict            continue, accept, reject, tempfail, discard, skip
    reply              {code, enhanced, lines} of a custom reply (absent when none)
    error              why the milter failed at this stage (absent when it did not)
    latency_ms         from the command to its reply (0 without a round trip)
  edits[]              in order: kind (addheader, insheader, chgheader, delheader,
                       addrcpt, delrcpt, chgfrom, replbody, quarantine), and as
                       the kind has them name, value (with its leading space),
                       index, address, params ["KEY=VALUE"], reason, body_bytes
  result               verdict, stage, reply (as above), exit_code
  error                the milter's failure, absent when none
  message              null unless accepted, else the message as edited:
    sender, recipients[]  {address, params}
    quarantine         the reason, absent when not quarantined
    headers[]          {name, value} (value with its leading space and folding)
    body               the body, CRLF line ends (body_base64 when not UTF-8)
  total_ms             the whole run`

// newMilterTestCmd builds milter-test; it writes to the root's output
// and error writers.
func newMilterTestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "milter-test ADDRESS [--eml FILE] [--from A] [--to A]... [--client-addr IP] [--client-name N] [--helo NAME] [--macro NAME=VALUE]... [--json] [--timeout D]",
		Short: "Drive any milter through one message; print each stage's reply, the edits, the resulting message and timings",
		Long:  milterTestLong,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("%s: want one milter ADDRESS, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return milterTestMain(cmd, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.String("eml", "", "message `FILE` to send (default: a built-in sample)")
	f.String("from", "sender@example.org", "envelope sender `A`, with optional ESMTP parameters")
	f.StringArray("to", nil, "envelope recipient `A`, with optional ESMTP parameters; repeatable (default recipient@example.net)")
	f.String("client-addr", "127.0.0.1", "client `IP` (or IP:port, [IPv6]:port)")
	f.String("client-name", "localhost", "client host name `N`")
	f.String("helo", "localhost", "HELO `NAME`")
	f.StringArray("macro", nil, "set macro `NAME=VALUE` at every stage; repeatable")
	f.Bool("json", false, "print one JSON document (fields in the help above)")
	f.Duration("timeout", mtDefaultTimeout, "bound `D` on connect, on each command's reply and on end of message")
	return cmd
}

// milterTestMain reads the flags, drives the milter and prints the report;
// the exit code tells the message's fate.
func milterTestMain(cmd *cobra.Command, address string, stdout, stderr io.Writer) error {
	o, err := mtOptionsFromFlags(cmd, address)
	if err != nil {
		return err
	}
	o.logger = mtLogger(cmd, stderr)
	rep := mtRun(cmd.Context(), o)
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Result.ExitCode != exitOK {
		return &exitErr{code: rep.Result.ExitCode}
	}
	return nil
}

// mtOptionsFromFlags checks the command line; its errors are usage errors.
func mtOptionsFromFlags(cmd *cobra.Command, address string) (*mtOptions, error) {
	name := cmd.CommandPath()
	if _, _, err := milterclient.ParseAddress(address); err != nil {
		return nil, usageErr("%s: %v", name, err)
	}
	f := cmd.Flags()
	o := &mtOptions{address: address, overrides: filter.MacroMap{}}
	o.timeout, _ = f.GetDuration("timeout")
	if o.timeout <= 0 {
		return nil, usageErr("%s: --timeout must be positive, got %v", name, o.timeout)
	}
	var err error
	if o.msg, err = mtLoadMessage(f.Lookup("eml").Value.String()); err != nil {
		return nil, &exitErr{code: exitUsage, err: fmt.Errorf("%s: %w", name, err)}
	}
	from, _ := f.GetString("from")
	if o.from, err = mtParseAddress(from); err != nil {
		return nil, usageErr("%s: --from: %v", name, err)
	}
	to, _ := f.GetStringArray("to")
	if len(to) == 0 {
		to = []string{"recipient@example.net"}
	}
	for _, t := range to {
		a, err := mtParseAddress(t)
		if err != nil || a.Addr == "" {
			return nil, usageErr("%s: --to %q: want an address", name, t)
		}
		o.to = append(o.to, a)
	}
	if o.conn, err = mtConn(f.Lookup("client-addr").Value.String(), f.Lookup("client-name").Value.String()); err != nil {
		return nil, usageErr("%s: --client-addr: %v", name, err)
	}
	o.helo = f.Lookup("helo").Value.String()
	macros, _ := f.GetStringArray("macro")
	for _, kv := range macros {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || filter.CanonicalMacro(k) == "" || strings.ContainsAny(k, " \t\x00") {
			return nil, usageErr("%s: --macro %q: want NAME=VALUE", name, kv)
		}
		o.overrides.Set(k, v)
	}
	return o, nil
}

// mtParseAddress parses "addr [KEY=VALUE...]"; the address may be in
// angle brackets; "" and "<>" are the null sender.
func mtParseAddress(s string) (envelope.Address, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return envelope.Address{}, nil
	}
	addr := fields[0]
	if strings.HasPrefix(addr, "<") != strings.HasSuffix(addr, ">") {
		return envelope.Address{}, fmt.Errorf("unbalanced angle brackets in %q", addr)
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if strings.ContainsAny(addr, "<>\x00") {
		return envelope.Address{}, fmt.Errorf("bad address %q", fields[0])
	}
	return envelope.Address{Addr: addr, Params: envelope.ParseParams(strings.Join(fields[1:], " "))}, nil
}

// mtConn builds the client connection from --client-addr and
// --client-name.
func mtConn(addr, name string) (envelope.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		a, aerr := netip.ParseAddr(addr)
		if aerr != nil {
			return envelope.Conn{}, fmt.Errorf("want an IP address or IP:port, got %q", addr)
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	c := envelope.Conn{ClientName: name, ClientAddr: ap, Family: envelope.FamilyInet}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		c.Family = envelope.FamilyInet6
	}
	return c, nil
}

// mtLogger sends the milter client's own log to stderr when --log-level
// is given; otherwise its failures are in the report only.
func mtLogger(cmd *cobra.Command, stderr io.Writer) *slog.Logger {
	lvl, _ := cmd.Flags().GetString("log-level")
	var level slog.Level
	if lvl == "" || level.UnmarshalText([]byte(lvl)) != nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// mtLoadMessage reads --eml, or returns the built-in sample.
func mtLoadMessage(path string) (*mtMessage, error) {
	if path == "" {
		return parseEML([]byte(mtSample))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseEML(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
