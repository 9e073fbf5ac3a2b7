package worker

// BenchmarkHTTPUserLoop is BenchmarkFastUserLoop (fasthttp_bench_test.go)
// for the default client: golocust's HTTPUsers against bench/load's plain
// net/http loop, both over connections that answer at once in memory, so
// that the figures are the processes' own CPU, without system calls.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// blockingCannedConn is a cannedConn for net/http, whose connections are
// read by a goroutine of their own that waits for the next response: a
// Read waits until a request is owed an answer, or the connection is
// closed.
type blockingCannedConn struct {
	cannedConn // its addresses and deadlines; its Read and Write under mu
	mu         sync.Mutex
	ready      sync.Cond
	closed     bool
}

func newBlockingCannedConn() *blockingCannedConn {
	c := &blockingCannedConn{cannedConn: cannedConn{resp: []byte(nginxOK)}}
	c.ready.L = &c.mu
	return c
}

// Write takes a request; net/http writes one with one Write (a flush of
// its buffer).
func (c *blockingCannedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.cannedConn.owed++
	c.ready.Signal()
	return len(p), nil
}

func (c *blockingCannedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.cannedConn.owed == 0 && !c.closed {
		c.ready.Wait()
	}
	if c.closed {
		return 0, io.EOF
	}
	return c.cannedConn.Read(p)
}

func (c *blockingCannedConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.ready.Broadcast()
	return nil
}

func dialBlockingCanned(context.Context, string, string) (net.Conn, error) {
	return newBlockingCannedConn(), nil
}

// httpLoopUser is an HTTPUser of BenchmarkHTTPUserLoop: one GET per task,
// no wait, counting its requests into done.
type httpLoopUser struct {
	HTTPUser
	done *arrivals
}

func (u *httpLoopUser) Tasks() []Task { return getRootTasks(u.Client, u.done) }

// BenchmarkHTTPUserLoop: 50 HTTPUsers of a pool, no wait, each request
// recorded, against raw-loop, bench/load's net/http loop on 50
// goroutines. Run it with -cpu 1; cpu-ns/op is the figure to compare.
func BenchmarkHTTPUserLoop(b *testing.B) {
	const users = 50
	b.Run("raw-loop", func(b *testing.B) {
		tr := newHTTPTransport()
		tr.DialContext = dialBlockingCanned
		tr.MaxIdleConnsPerHost = users
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		rawLoop(b, users, func() error {
			resp, err := client.Get("http://127.0.0.1:80/")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		})
	})
	b.Run("golocust", func(b *testing.B) {
		done := newArrivals(b.N)
		class := Class("Loop", func() *httpLoopUser { return &httpLoopUser{done: done} })
		p := newBenchPool(b, class, "http://127.0.0.1:80")
		p.transport.http.DialContext = dialBlockingCanned
		defer p.transport.http.CloseIdleConnections()
		userLoop(b, p, users, done)
	})
}
