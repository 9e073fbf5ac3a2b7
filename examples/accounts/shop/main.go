// Command shop serves examples/accounts' demo shop on 127.0.0.1:8080 (or
// -addr) with the 5,000 accounts of accounts.csv; GET /demo/stats shows
// its counts, conflicts among them.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/golocust/golocust/examples/accounts/internal/shop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	log.Printf("demo shop on http://%s (GET /demo/stats for its counts)", *addr)
	log.Fatal(http.ListenAndServe(*addr, shop.New(shop.Accounts(5000))))
}
