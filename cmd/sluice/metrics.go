package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/miltersrv"
	"github.com/sluice-mta/sluice/queue"
	"github.com/sluice-mta/sluice/smtpd"
)

// metrics is the Prometheus registry of one process ([metrics] listen),
// fed by the observers of smtpd and queue (sluice serve) or miltersrv
// (sluice milter): the library packages know nothing of Prometheus.
// Every labelled series exists from the start, at 0.
type metrics struct {
	reg *prometheus.Registry

	smtpConns    *prometheus.CounterVec // result: accepted, refused
	smtpOpen     prometheus.Gauge
	smtpRcpts    *prometheus.CounterVec // class: 4xx, 5xx
	smtpMessages *prometheus.CounterVec // result: queued, discarded, rejected, tempfailed
	smtpBytes    prometheus.Counter

	deliveries *prometheus.CounterVec // result: delivered, deferred, bounced
	dsns       *prometheus.CounterVec // kind: failed, delayed, delivered

	milterConns    *prometheus.CounterVec // result: accepted, refused
	milterOpen     prometheus.Gauge
	milterVerdicts *prometheus.CounterVec // stage, verdict
}

// The roles a registry serves.
const (
	roleServe  = "serve"
	roleMilter = "milter"
)

// newMetrics returns the registry of role: its own families, the Go
// runtime's and the process's.
func newMetrics(role string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{m.reg}
	if role == roleMilter {
		m.milterConns = f.counters("sluice_milter_connections_total", "MTA connections to the milter server, by result: accepted or refused (beyond max_connections, or shutting down).", "result", "accepted", "refused")
		m.milterOpen = f.gauge("sluice_milter_connections_open", "MTA connections open now.")
		m.milterVerdicts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_milter_verdicts_total",
			Help: "Verdicts sent to the MTA, by stage and verdict; stage eom counts messages."}, []string{"stage", "verdict"})
		m.reg.MustRegister(m.milterVerdicts)
		return m
	}
	m.smtpConns = f.counters("sluice_smtp_connections_total", "SMTP connections, by result: accepted (a session began) or refused (421 before it: connection limits, shutdown).", "result", "accepted", "refused")
	m.smtpOpen = f.gauge("sluice_smtp_connections_open", "SMTP sessions open now.")
	m.smtpRcpts = f.counters("sluice_smtp_recipients_rejected_total", "RCPT commands refused by relay control or a filter, by reply class.", "class", "4xx", "5xx")
	m.smtpMessages = f.counters("sluice_smtp_messages_total", "Messages received to their end, by outcome: queued (250, durable), discarded (250, dropped by a filter), rejected (5xx), tempfailed (4xx).",
		"result", string(smtpd.MessageQueued), string(smtpd.MessageDiscarded), string(smtpd.MessageRejected), string(smtpd.MessageTempFailed))
	m.smtpBytes = f.counter("sluice_smtp_message_bytes_total", "Bytes of the messages queued, header (with the Received field added) and body.")
	m.deliveries = f.counters("sluice_queue_deliveries_total", "Recipients' delivery outcomes: delivered, deferred (tried again later), bounced (failed for good or expired).",
		"result", string(queue.RcptDelivered), string(queue.RcptDeferred), string(queue.RcptBounced))
	m.dsns = f.counters("sluice_queue_dsns_total", "Delivery status notifications queued, by RFC 3464 action.",
		"kind", string(queue.DSNFailed), string(queue.DSNDelayed), string(queue.DSNDelivered))
	return m
}

// factory registers the collectors it makes.
type factory struct{ reg *prometheus.Registry }

// counters makes a counter vector with one label, its series for each of
// values created at 0.
func (f factory) counters(name, help, label string, values ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	for _, v := range values {
		c.WithLabelValues(v)
	}
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

// watchQueue adds sluice_queue_messages, read from q at each scrape.
func (m *metrics) watchQueue(q *queue.Queue) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_queue_messages",
		Help: "Messages in the queue (waiting, held or being delivered)."}, func() float64 { return float64(q.Len()) }))
}

// smtpObserver returns what smtpd reports to; nil without metrics.
func (m *metrics) smtpObserver() smtpd.Observer {
	if m == nil {
		return nil
	}
	return smtpObserver{m}
}

// queueObserver returns what the queue runner reports to; nil without
// metrics.
func (m *metrics) queueObserver() queue.Observer {
	if m == nil {
		return nil
	}
	return queueObserver{m}
}

// milterObserver returns what miltersrv reports to; nil without metrics.
func (m *metrics) milterObserver() miltersrv.Observer {
	if m == nil {
		return nil
	}
	return milterObserver{m}
}

type smtpObserver struct{ m *metrics }

func (o smtpObserver) ConnectionOpened() {
	o.m.smtpConns.WithLabelValues("accepted").Inc()
	o.m.smtpOpen.Inc()
}
func (o smtpObserver) ConnectionRefused(smtpd.RefusalReason) {
	o.m.smtpConns.WithLabelValues("refused").Inc()
}
func (o smtpObserver) ConnectionClosed() { o.m.smtpOpen.Dec() }
func (o smtpObserver) RecipientRejected(code int) {
	o.m.smtpRcpts.WithLabelValues(codeClass(code)).Inc()
}
func (o smtpObserver) Message(out smtpd.MessageOutcome) {
	o.m.smtpMessages.WithLabelValues(string(out.Result)).Inc()
	if out.Result == smtpd.MessageQueued {
		o.m.smtpBytes.Add(float64(out.Size))
	}
}

// codeClass is "4xx" or "5xx" (anything not 5xx counts as temporary).
func codeClass(code int) string {
	if code >= 500 {
		return "5xx"
	}
	return "4xx"
}

type queueObserver struct{ m *metrics }

func (o queueObserver) Recipient(r queue.RcptResult) { o.m.deliveries.WithLabelValues(string(r)).Inc() }
func (o queueObserver) DSN(k queue.DSNKind)          { o.m.dsns.WithLabelValues(string(k)).Inc() }

type milterObserver struct{ m *metrics }

func (o milterObserver) ConnectionOpened() {
	o.m.milterConns.WithLabelValues("accepted").Inc()
	o.m.milterOpen.Inc()
}
func (o milterObserver) ConnectionRefused() { o.m.milterConns.WithLabelValues("refused").Inc() }
func (o milterObserver) ConnectionClosed()  { o.m.milterOpen.Dec() }
func (o milterObserver) Verdict(st filter.Stage, a filter.Action) {
	o.m.milterVerdicts.WithLabelValues(st.String(), a.String()).Inc()
}

// startMetrics serves the registry's /metrics on addr until the returned
// stop is called. A listen error is returned at once, naming the key.
func startMetrics(m *metrics, addr string, log *slog.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), Timeout: 10 * time.Second}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "listen", addr, "err", err)
		}
	}()
	log.Info("metrics listening", "listen", l.Addr().String(), "path", "/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
