package worker

// This file owns the fast client's fasthttp.RoundTripper: one hop of a
// request on one connection, from writing the request to reading the
// response's body into the call's memory and giving the connection back.
// fasthttp.go owns the rest of the exchange (redirects, cookies, the
// response); httpconns.go the connections.

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// fastTransport is fasthttp's own transport (client.go, transport.RoundTrip
// in v1.78) with the body read here, into the call's memory, instead of
// into fasthttp's buffer or through its streamed body: fasthttp's
// streamed body costs four allocations a request (a clientStreamBody and
// three closures), and its buffered one takes the memory of the announced
// Content-Length before the bytes arrive. A redirect's body is drained;
// the final hop's body is read within the call's limit, taking only the
// memory of the bytes received. Its connections are keptConns, which
// bound every request (fastNetworkTimeout) and take a request's own
// deadline.
type fastTransport struct{}

// fastCallKey is the fasthttp.Request user value that holds the request's
// *call, for the transport.
type fastCallKey struct{}

// redirectDrainMax is the most of a redirect's body that is read so that
// its connection can carry the next request; a longer one closes it.
const redirectDrainMax = 64 << 10

// RoundTrip sends req on a connection of hc and reads the response into
// resp and its body into the call, as fasthttp's transport does: retry is
// true when the request may not have been sent (a write failed). A body
// that cannot be read whole is not an error here: it is the call's
// (fastCall.bodyErr), recorded with the response's status.
func (fastTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	x, ok := req.UserValue(fastCallKey{}).(*call)
	if !ok {
		return fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
	}
	var wait time.Duration // for a connection; 0: no deadline
	if d := x.fast.deadline; !d.IsZero() {
		if wait = time.Until(d); wait <= 0 {
			return false, fasthttp.ErrTimeout
		}
	}
	cc, err := hc.AcquireConn(wait, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	if err := startRequest(conn, latest(x.start, cc.LastUseTime()), x.fast.deadline); err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	if err := writeRequest(hc, conn, req, x.fast.wire); err != nil {
		hc.CloseConn(cc)
		return true, timeoutOr(err)
	}
	// Both set for each hop: fasthttp keeps them across requests, and a
	// client that reuses its responses keeps its fasthttp.Response.
	resp.SkipBody = req.Header.IsHead()
	resp.StreamBody = true
	br := hc.AcquireReader(conn)
	if err := resp.ReadLimitBody(br, 0); err != nil {
		resp.CloseBodyStream()
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return !errors.Is(err, fasthttp.ErrBodyTooLarge), err
	}
	ended := x.fast.readHop(resp)
	resp.CloseBodyStream()
	hc.ReleaseReader(br)
	if ended && !req.ConnectionClose() && !resp.ConnectionClose() {
		hc.ReleaseConn(cc)
	} else {
		hc.CloseConn(cc)
	}
	return false, nil
}

// writeRequest writes req on conn: its bytes as wire has them when it is
// not nil, else through a buffer of hc's.
func writeRequest(hc *fasthttp.HostClient, conn net.Conn, req *fasthttp.Request, wire []byte) error {
	if wire != nil {
		_, err := conn.Write(wire)
		return err
	}
	bw := hc.AcquireWriter(conn)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	return err
}

// doHost is host.Do (fasthttp's HostClient.Do) for the base host's
// connections, whose transport is fastTransport, without what a request
// of the fast client does not need there: reading the clock for the
// host's last use (which only fasthttp.Client's cleaner of idle hosts
// reads, and the base host is none of its), checking the scheme (do
// sends a request to its own scheme's host), a user agent (none is set),
// the count of requests in flight. A request whose idle connection the
// server had closed (errStaleConn, nothing written) goes to another one,
// up to maxStaleRetries times in all, as retryStale makes fasthttp do.
func doHost(host *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) error {
	for attempt := 1; ; attempt++ {
		retry, err := fastTransport{}.RoundTrip(host, req, resp)
		if err == nil || !retry || attempt >= maxStaleRetries || !errors.Is(err, errStaleConn) {
			if err == io.EOF {
				err = fasthttp.ErrConnectionClosed // as HostClient.Do says it
			}
			return err
		}
	}
}

// readHop reads the body of the hop whose header is in resp: drained when
// the hop redirects to a URL the call follows (x.next), else into the
// call's body. It reports whether the body was read to its end, so that
// the connection can carry another request.
func (f *fastCall) readHop(resp *fasthttp.Response) (ended bool) {
	x := &f.call
	f.next = nextHop(resp, x)
	s := resp.BodyStream()
	if s == nil { // no body (HEAD, 204, 304)
		f.body, f.bodyErr = nil, nil
		return true
	}
	if f.next != nil {
		_, err := io.CopyN(io.Discard, s, redirectDrainMax+1)
		return err == io.EOF
	}
	var dst []byte
	if r := f.reuse; r != nil {
		dst = r.body[:0]
	}
	f.body, f.bodyErr = readBodyInto(dst, s, int64(resp.Header.ContentLength()), x.cfg.maxBody)
	if r := f.reuse; r != nil && cap(f.body) <= reuseBodyMax {
		r.body = f.body
	}
	return f.bodyErr == nil
}

// requestStarter is a connection that readies itself for a request
// (keptConn.startRequest).
type requestStarter interface {
	startRequest(now, deadline time.Time) error
}

// startRequest readies conn for a request that starts at about now, with
// its own deadline (zero: none).
func startRequest(conn net.Conn, now, deadline time.Time) error {
	if s, ok := conn.(requestStarter); ok {
		return s.startRequest(now, deadline)
	}
	return conn.SetDeadline(deadline)
}

// latest returns the later of two times.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// timeoutOr returns fasthttp.ErrTimeout for a timeout, as fasthttp's
// transport does, and err otherwise.
func timeoutOr(err error) error {
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return fasthttp.ErrTimeout
	}
	return err
}
