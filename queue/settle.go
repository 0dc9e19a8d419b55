package queue

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
)

// maxReplyText bounds the reply text kept per recipient (a DSN line must
// stay under 998 bytes).
const maxReplyText = 800

// settle records the outcome of an attempt on e: per-recipient results,
// expiry, DSNs, and then either removal (nothing left to do) or a durable
// record update and the next attempt.
func (r *runner) settle(ctx context.Context, e *entry, attempted bool, results []envelope.RcptResult) {
	q := r.q
	now := q.opts.Clock()
	q.mu.Lock()
	if e.gone { // deleted while it was delivered
		e.busy = false
		q.mu.Unlock()
		return
	}
	var events []rcptEvent
	if attempted {
		events = applyResults(&e.rec, results, now)
		e.rec.Attempts++
		e.rec.LastAttempt = now
	}
	expiry := e.rec.Arrived.Add(q.opts.MaxAge)
	if !now.Before(expiry) {
		events = append(events, expire(&e.rec, now)...)
	}
	snap := e.rec.clone()
	q.mu.Unlock()
	q.logEvents(snap.ID, events)
	q.observeRcpts(events)

	notified := r.notifyFailed(ctx, &snap, now)
	notified = append(notified, r.notifySuccess(ctx, &snap, now)...)
	warned := r.warnDelay(ctx, &snap, now)

	q.mu.Lock()
	if e.gone { // deleted while its DSN was being queued
		e.busy = false
		q.mu.Unlock()
		return
	}
	for _, i := range notified {
		e.rec.Rcpts[i].Notified = true
	}
	e.rec.DelayWarned = e.rec.DelayWarned || warned
	finished := finishedRecord(&e.rec)
	if !finished {
		e.rec.NextAttempt = r.nextAttempt(&e.rec, now, expiry)
	}
	next := e.rec.NextAttempt
	q.mu.Unlock()

	if finished {
		if err := q.remove(ctx, e); err == nil {
			q.log.Info("removed", "id", snap.ID, "attempts", snap.Attempts)
		}
	} else if err := q.persist(ctx, e); err != nil {
		q.log.Error("queue: cannot update record; the next attempt may repeat deliveries", "id", snap.ID, "err", err)
	} else if attempted {
		q.log.Info("rescheduled", "id", snap.ID, "attempts", snap.Attempts, "next", next.Format(time.RFC3339))
	}
	q.mu.Lock()
	e.busy = false
	q.scheduleLocked(e)
	q.mu.Unlock()
}

// nextAttempt is when to try e again: on the retry schedule for pending
// recipients, capped at expiry so the last attempt happens then; soon
// when only a DSN could not be queued.
func (r *runner) nextAttempt(rec *Record, now, expiry time.Time) time.Time {
	o := r.q.opts
	if len(rec.pending()) == 0 {
		return now.Add(o.Retry[0])
	}
	t := now.Add(NextAttempt(rec.Attempts, o.Retry, o.Jitter, o.Rand))
	if t.After(expiry) {
		t = expiry
	}
	return t
}

// finishedRecord: no recipient is pending and every final state was
// notified (or needed no notification).
func finishedRecord(rec *Record) bool {
	for _, rc := range rec.Rcpts {
		if rc.State == Pending || !rc.Notified {
			return false
		}
	}
	return true
}

// rcptEvent is one recipient's outcome, for the log and the DSNs.
type rcptEvent struct {
	idx   int // in Record.Rcpts
	rcpt  string
	state string // delivered, deferred, failed, expired
	reply Reply
}

// applyResults updates the pending recipients of rec from results, and
// keeps a delivered one's handoff for its success DSN. A pending
// recipient without a result stays pending.
func applyResults(rec *Record, results []envelope.RcptResult, now time.Time) []rcptEvent {
	used := make([]bool, len(results))
	var events []rcptEvent
	for i := range rec.Rcpts {
		rc := &rec.Rcpts[i]
		if rc.State != Pending {
			continue
		}
		j := matchResult(rc.Addr, results, used)
		if j < 0 {
			rc.Reply = Reply{Text: "the deliverer returned no result for this recipient", At: now}
			events = append(events, rcptEvent{idx: i, rcpt: rc.Addr, state: "deferred", reply: rc.Reply})
			continue
		}
		used[j] = true
		res := results[j]
		rc.Reply = Reply{Code: res.Code, Enhanced: cleanEnhanced(res.Enhanced), Text: cleanText(res.Text),
			Remote: cleanText(res.Remote), At: now}
		rc.Handoff = envelope.HandoffUnknown
		ev := rcptEvent{idx: i, rcpt: rc.Addr, state: "deferred", reply: rc.Reply}
		switch res.Status {
		case envelope.Delivered:
			rc.State, rc.Handoff, ev.state = Delivered, res.Handoff, "delivered"
		case envelope.Failed:
			rc.State, ev.state = Failed, "failed"
		}
		events = append(events, ev)
	}
	return events
}

// matchResult finds the first unused result for addr: exact, else
// case-insensitive.
func matchResult(addr string, results []envelope.RcptResult, used []bool) int {
	for pass := 0; pass < 2; pass++ {
		for j, res := range results {
			if used[j] {
				continue
			}
			if res.Rcpt == addr || (pass == 1 && strings.EqualFold(res.Rcpt, addr)) {
				return j
			}
		}
	}
	return -1
}

// expire fails every pending recipient of rec: its time in the queue is up.
func expire(rec *Record, now time.Time) []rcptEvent {
	var events []rcptEvent
	for i := range rec.Rcpts {
		rc := &rec.Rcpts[i]
		if rc.State != Pending {
			continue
		}
		rc.State = Failed
		rc.Expired = true
		if rc.Reply.At.IsZero() {
			rc.Reply.At = now
		}
		events = append(events, rcptEvent{idx: i, rcpt: rc.Addr, state: "expired", reply: rc.Reply})
	}
	return events
}

func (q *Queue) logEvents(id string, events []rcptEvent) {
	for _, ev := range events {
		q.log.Info(ev.state, "id", id, "rcpt", ev.rcpt, "remote", ev.reply.Remote, "reply", replyString(ev.reply))
	}
}

// replyString renders a reply as "550 5.1.1 text" (without the parts it
// lacks).
func replyString(r Reply) string {
	var parts []string
	if r.Code > 0 {
		parts = append(parts, strconv.Itoa(r.Code))
	}
	if r.Enhanced != "" {
		parts = append(parts, r.Enhanced)
	}
	if r.Text != "" {
		parts = append(parts, r.Text)
	}
	return strings.Join(parts, " ")
}

// cleanText makes s safe for a record and a DSN line: control characters
// (multi-line replies included) become spaces, invalid UTF-8 is replaced,
// and the length is bounded.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxReplyText {
		cut := maxReplyText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// cleanEnhanced returns s when it is an RFC 3463 status code
// (class.subject.detail), else "".
func cleanEnhanced(s string) string {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return ""
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || len(p) > 3 || p[0] == '+' {
			return ""
		}
	}
	return s
}

// wantsNotify reports whether rcpt's NOTIFY parameter (RFC 3461 §4.1)
// asks for a DSN of kind (FAILURE or DELAY). Without NOTIFY, failures are
// reported and delays may be.
func wantsNotify(rcpt envelope.Address, kind string) bool {
	v, ok := rcpt.Param("NOTIFY")
	if !ok {
		return kind == "FAILURE" || kind == "DELAY"
	}
	for _, k := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(k), kind) {
			return true
		}
	}
	return false
}

// notifyFailed queues a DSN for the failed recipients not yet notified
// that want one, and returns the indexes of the recipients that are now
// settled (reported, or not to be reported). When the DSN cannot be
// queued they stay unnotified and the next attempt tries again.
func (r *runner) notifyFailed(ctx context.Context, rec *Record, now time.Time) []int {
	var report, settled []int
	var rcpts []dsnRcpt
	for i, rc := range rec.Rcpts {
		if rc.State != Failed || rc.Notified {
			continue
		}
		if rec.From.Addr == "" || !wantsNotify(rc.Address, "FAILURE") {
			settled = append(settled, i)
			continue
		}
		report = append(report, i)
		rcpts = append(rcpts, dsnRcpt{rc, "failed"})
	}
	if rec.From.Addr == "" && len(settled) > 0 {
		r.q.log.Info("no bounce to the null sender", "id", rec.ID, "rcpts", len(settled))
	}
	if len(report) == 0 {
		return settled
	}
	id, err := r.q.queueDSN(ctx, r.dsn(rec, dsnFailure, rcpts, now))
	if err != nil {
		r.q.log.Error("queue: cannot queue a bounce; will try again", "id", rec.ID, "err", err)
		return settled
	}
	r.q.log.Info("bounced", "id", rec.ID, "dsn", id, "to", rec.From.Addr, "rcpts", len(report))
	r.q.observeDSN(dsnFailure)
	return append(settled, report...)
}

// warnDelay queues a "delayed" DSN once when DelayWarning is set and the
// message has waited that long; it reports whether the warning is done
// (sent, or nobody wants it).
func (r *runner) warnDelay(ctx context.Context, rec *Record, now time.Time) bool {
	if r.opts.DelayWarning <= 0 || rec.DelayWarned || rec.From.Addr == "" ||
		now.Sub(rec.Arrived) < r.opts.DelayWarning {
		return false
	}
	var report []dsnRcpt
	for _, rc := range rec.Rcpts {
		if rc.State == Pending && wantsNotify(rc.Address, "DELAY") {
			report = append(report, dsnRcpt{rc, "delayed"})
		}
	}
	if len(report) == 0 {
		return len(rec.pending()) > 0
	}
	id, err := r.q.queueDSN(ctx, r.dsn(rec, dsnDelay, report, now))
	if err != nil {
		r.q.log.Error("queue: cannot queue a delay warning", "id", rec.ID, "err", err)
		return false
	}
	r.q.log.Info("delay warning", "id", rec.ID, "dsn", id, "to", rec.From.Addr, "rcpts", len(report))
	r.q.observeDSN(dsnDelay)
	return true
}

func (r *runner) dsn(rec *Record, kind dsnKind, rcpts []dsnRcpt, now time.Time) dsnInput {
	return dsnInput{host: r.opts.Hostname, orig: rec, kind: kind, rcpts: rcpts, now: now,
		until: rec.Arrived.Add(r.q.opts.MaxAge), maxReturn: r.opts.MaxReturnSize}
}

// notifySuccess queues one DSN (RFC 3461 §5.2.2, §5.2.3) for the
// delivered recipients not yet notified whose NOTIFY asks for SUCCESS and
// whose recorded handoff calls for one from us: "relayed" for a
// downstream that did not advertise DSN, "delivered" for a final
// delivery. The handoff is read from the record, so a DSN retried after
// it could not be queued (in a later settle, or after a restart) reports
// what the deliverer said. It returns the indexes of the delivered
// recipients now settled: reported, or needing no report (no SUCCESS asked, the null sender, a downstream that took
// the DSN parameters over). When the DSN cannot be queued the recipients
// it reports stay unnotified and the next settle tries again.
func (r *runner) notifySuccess(ctx context.Context, rec *Record, now time.Time) []int {
	var report, settled []int
	var rcpts []dsnRcpt
	for i, rc := range rec.Rcpts {
		if rc.State != Delivered || rc.Notified {
			continue
		}
		action := successAction(rc.Handoff)
		if rec.From.Addr == "" || action == "" || !wantsNotify(rc.Address, "SUCCESS") {
			settled = append(settled, i)
			continue
		}
		report = append(report, i)
		rcpts = append(rcpts, dsnRcpt{rc, action})
	}
	if len(report) == 0 {
		return settled
	}
	id, err := r.q.queueDSN(ctx, r.dsn(rec, dsnSuccess, rcpts, now))
	if err != nil {
		r.q.log.Error("queue: cannot queue a success DSN; will try again", "id", rec.ID, "err", err)
		return settled
	}
	r.q.log.Info("success notified", "id", rec.ID, "dsn", id, "to", rec.From.Addr, "rcpts", len(report))
	r.q.observeDSN(dsnSuccess)
	return append(settled, report...)
}

// successAction is the RFC 3464 Action a delivered recipient with
// handoff h is reported with: "" when the downstream took the DSN
// parameters over. HandoffUnknown counts as relayed: the deliverer did
// not say, or the record predates kept handoffs (a success DSN whose
// queueing failed before an upgrade); "relayed" claims only that the
// message left the queue, which is true of every delivery.
func successAction(h envelope.Handoff) string {
	switch h {
	case envelope.HandoffPassedOn:
		return ""
	case envelope.HandoffFinal:
		return "delivered"
	}
	return "relayed"
}
