package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/queue"
)

// newQueueCmd is `sluice queue …`. Every subcommand opens the spool with
// queue.OpenControl: while `sluice serve` owns it, list and show read the
// files and the other operations are handed to serve's queue runner;
// otherwise the command owns the spool for its run and acts directly.
func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue list | show ID | flush | hold ID | release ID | delete ID [--config FILE]",
		Short: "Queue operations, safe while serve runs",
		Long: "queue lists and inspects the messages in the spool (queue.dir, default <data_dir>/spool)\n" +
			"and holds, releases, deletes or flushes them. While `sluice serve` runs, the\n" +
			"operations are applied by its queue runner; otherwise directly.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("%s: unknown subcommand %q", cmd.CommandPath(), args[0])
			}
			return usageErr("%s: missing subcommand (list, show, flush, hold, release, delete)", cmd.CommandPath())
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	hold := &cobra.Command{
		Use:   "hold ID [--reason TEXT]",
		Short: "Put a message on hold: it is not delivered until released",
		Args:  oneID,
		RunE: withQueue(func(ctx context.Context, cmd *cobra.Command, q *queue.Queue, id string) error {
			reason, _ := cmd.Flags().GetString("reason")
			if err := q.Hold(ctx, id, reason); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "held %s\n", id)
			return err
		}),
	}
	hold.Flags().String("reason", "held by operator", "why, as `TEXT` shown by list and show")
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List queued messages, one per line", Args: noArgs,
			RunE: withQueue(func(_ context.Context, cmd *cobra.Command, q *queue.Queue, _ string) error {
				return printList(cmd.OutOrStdout(), q)
			})},
		&cobra.Command{Use: "show ID", Short: "Show a message's envelope, delivery state and content", Args: oneID,
			RunE: withQueue(func(_ context.Context, cmd *cobra.Command, q *queue.Queue, id string) error {
				return printShow(cmd.OutOrStdout(), q, id)
			})},
		&cobra.Command{Use: "flush", Short: "Make every message that is not held due now", Args: noArgs,
			RunE: withQueue(func(ctx context.Context, cmd *cobra.Command, q *queue.Queue, _ string) error {
				n, err := q.Flush(ctx)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "flushed %d %s\n", n, plural(n, "message"))
				return err
			})},
		hold,
		simpleOp("release ID", "Release a held message; it is tried at once", "released", (*queue.Queue).Release),
		simpleOp("delete ID", "Delete a message without notifying anyone", "deleted", (*queue.Queue).Delete),
	)
	return cmd
}

// simpleOp is a subcommand that applies op to one ID and says done.
func simpleOp(use, short, done string, op func(*queue.Queue, context.Context, string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: oneID,
		RunE: withQueue(func(ctx context.Context, cmd *cobra.Command, q *queue.Queue, id string) error {
			if err := op(q, ctx, id); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", done, id)
			return err
		})}
}

func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErr("%s: want one queue ID, got %d arguments", cmd.CommandPath(), len(args))
	}
	return nil
}

// withQueue loads the configuration, opens the spool for control and runs
// f with the first argument (if any); errors become exit 1 with the
// command's name.
func withQueue(f func(context.Context, *cobra.Command, *queue.Queue, string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := loadConfig(cmd, nil)
		if err != nil {
			return err
		}
		q, err := queue.OpenControl(queueOptions(cfg, cmd.ErrOrStderr()))
		if err != nil {
			return &exitErr{code: exitError, err: fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		defer q.Close()
		id := ""
		if len(args) > 0 {
			id = args[0]
		}
		if err := f(cmd.Context(), cmd, q, id); err != nil {
			return &exitErr{code: exitError, err: fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

// queueOptions builds the queue's options from the configuration. The
// command's logger shows warnings and errors only (a recovery's
// informational lines are for serve's log).
func queueOptions(cfg *config.Config, stderr io.Writer) queue.Options {
	level := max(cfg.LogLevel, slog.LevelWarn)
	return spoolOptions(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
}

// spoolOptions maps [queue] to the queue's options.
func spoolOptions(cfg *config.Config, log *slog.Logger) queue.Options {
	q := cfg.Queue
	logMax := q.LogMaxMessage
	if logMax == 0 {
		logMax = -1 // the queue's "a file for every message"
	}
	return queue.Options{Dir: q.Dir, Retry: q.Retry, MaxAge: q.MaxAge, Logger: log,
		LogMaxMessage: logMax, SegmentSize: q.SegmentSize}
}

// printList writes one line per message: ID, size, arrival, sender,
// recipients (pending/total), state and next attempt.
func printList(w io.Writer, q *queue.Queue) error {
	recs, err := q.List()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "queue is empty")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tARRIVED\tSENDER\tRCPTS\tSTATE\tNEXT ATTEMPT")
	var total int64
	for _, r := range recs {
		total += r.Size
		fmt.Fprintf(tw, "%s\t%d\t%s\t<%s>\t%d/%d\t%s\t%s\n", r.ID, r.Size, stamp(r.Arrived), r.From.Addr,
			pendingCount(&r), len(r.Rcpts), r.State(), nextAttempt(&r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%d %s, %d bytes\n", len(recs), plural(len(recs), "message"), total)
	return err
}

func pendingCount(r *queue.Record) int {
	n := 0
	for _, rc := range r.Rcpts {
		if rc.State == queue.Pending {
			n++
		}
	}
	return n
}

func nextAttempt(r *queue.Record) string {
	switch {
	case r.Held:
		return "held: " + r.HoldReason
	case r.NextAttempt.IsZero():
		return "now"
	}
	return stamp(r.NextAttempt)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// printShow writes the envelope and delivery state of message id, a blank
// line, and the message as it is delivered.
func printShow(w io.Writer, q *queue.Queue, id string) error {
	r, err := q.Show(id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "id: %s\narrived: %s\nsize: %d (header %d)\n", r.ID, stamp(r.Arrived), r.Size, r.HeaderSize)
	fmt.Fprintf(w, "sender: %s\n", addrString(r.From.Addr, r.From.ParamString()))
	fmt.Fprintf(w, "client: %s\n", clientString(r))
	fmt.Fprintf(w, "attempts: %d, last %s, next %s\n", r.Attempts, stamp(r.LastAttempt), nextAttempt(r))
	for _, rc := range r.Rcpts {
		fmt.Fprintf(w, "recipient: %s: %s", addrString(rc.Addr, rc.ParamString()), rc.State)
		if rc.Expired {
			fmt.Fprint(w, " (expired)")
		}
		if rc.Reply != (queue.Reply{}) {
			fmt.Fprintf(w, "; last reply %q from %s at %s", replyText(rc.Reply), orDash(rc.Reply.Remote), stamp(rc.Reply.At))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	rc, err := q.Message(id)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

func addrString(addr, params string) string {
	if params == "" {
		return "<" + addr + ">"
	}
	return "<" + addr + "> " + params
}

func clientString(r *queue.Record) string {
	c := r.Client
	var parts []string
	if c.ClientName != "" {
		parts = append(parts, c.ClientName)
	}
	if c.ClientAddr.IsValid() {
		parts = append(parts, c.ClientAddr.String())
	} else if c.ClientPath != "" {
		parts = append(parts, c.ClientPath)
	}
	for _, kv := range [][2]string{{"helo", c.HELO}, {"proto", c.Proto}, {"login", c.AuthLogin}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func replyText(rp queue.Reply) string {
	var parts []string
	if rp.Code > 0 {
		parts = append(parts, fmt.Sprint(rp.Code))
	}
	for _, s := range []string{rp.Enhanced, rp.Text} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
