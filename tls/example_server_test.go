package tls_test

import (
	"fmt"

	"github.com/sluice-mta/sluice/tls"
)

// A server without certificate files presents a self-signed certificate
// for its host name; with files, Reload (on SIGHUP) picks up new ones.
func ExampleServerConfig() {
	certs, err := tls.NewServerCertificates(tls.ServerCertOptions{Hostname: "mx.example.org"})
	if err != nil {
		panic(err)
	}
	cfg := tls.ServerConfig(certs)
	fmt.Println(certs.SelfSigned(), certs.Certificate().Leaf.Subject.CommonName, cfg.MinVersion == tls.MinVersion)
	fmt.Println(certs.Reload())
	// Output:
	// true mx.example.org true
	// <nil>
}
