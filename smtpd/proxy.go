package smtpd

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyOptions configure ProxyListener.
type ProxyOptions struct {
	// Trusted are the proxies (HAProxy, a load balancer): a connection
	// from them must begin with a PROXY header, whose client address the
	// server then uses for everything (limits, relay control, XCLIENT
	// authorization, Received). Connections from elsewhere are served as
	// they are, and closed if they send a PROXY header. Required.
	Trusted []netip.Prefix
	// HeaderTimeout bounds the wait for the header; default 10s.
	HeaderTimeout time.Duration
}

// ProxyListener wraps l for the PROXY protocol, versions 1 and 2
// (github.com/pires/go-proxyproto). Serve the result.
func ProxyListener(l net.Listener, opts ProxyOptions) (net.Listener, error) {
	if len(opts.Trusted) == 0 {
		return nil, errors.New("smtpd: the PROXY protocol needs the trusted proxies' networks")
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = 10 * time.Second
	}
	trusted := opts.Trusted
	policy := func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		if a := addrPort(o.Upstream); a.IsValid() {
			for _, p := range trusted {
				if p.Contains(a.Addr()) {
					return proxyproto.REQUIRE, nil
				}
			}
		}
		return proxyproto.REJECT, nil
	}
	return &proxyproto.Listener{Listener: l, ConnPolicy: policy, ReadHeaderTimeout: opts.HeaderTimeout}, nil
}
