// Command certs makes the store's certificate authority and the services'
// certificates for mutual TLS (package pki): `make up` runs it locally,
// compose as a one-shot service.
//
//	certs -dir DIR api:10001 dbsvc:65532 logsvc:65532
//
// An identity's ":uid" suffix makes that uid the owner of its files.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sustech-merch/store/serving/pki"
)

func main() {
	dir := flag.String("dir", "", "where the authority and the certificates go (required)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: certs -dir DIR identity[:uid] ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var identities []pki.Identity
	for _, arg := range flag.Args() {
		name, uidText, owned := strings.Cut(arg, ":")
		uid := -1
		if owned {
			var err error
			if uid, err = strconv.Atoi(uidText); err != nil || uid < 0 {
				fmt.Fprintf(os.Stderr, "certs: %q: the part after ':' must be a uid\n", arg)
				os.Exit(2)
			}
		}
		identities = append(identities, pki.Identity{Name: name, UID: uid})
	}
	if err := pki.Make(*dir, identities, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}
