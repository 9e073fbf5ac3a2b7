// Command custom load-tests a service that does not speak HTTP: a line
// echo server over TCP. Each user keeps its own connection, opened in
// OnStart and closed in OnStop, and records every exchange with
// worker.Record so it shows in Locust's tables like an HTTP request.
//
// Without --echo-addr it starts its own echo server on 127.0.0.1:
//
//	go run ./examples/custom -u 20 -r 10 -t 10s
//
// As a worker of a Locust master that loads locustfile.py beside it:
//
//	locust -f examples/custom/locustfile.py --master &
//	go run ./examples/custom --master-host 127.0.0.1
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/golocust/golocust/worker"
)

// echoAddr is the echo server's address; "" starts one in this process.
var echoAddr = worker.StringOption("echo-addr", "", "host:port of the TCP echo server (default: start one on 127.0.0.1)")

// EchoUser talks to the echo server over one connection of its own.
type EchoUser struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

// OnStart connects; the time to connect is recorded as its own row.
func (u *EchoUser) OnStart(ctx context.Context) error {
	return u.connect(ctx)
}

func (u *EchoUser) connect(ctx context.Context) error {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return worker.Record(ctx, "tcp", "connect", time.Since(start), 0, err)
	}
	u.conn, u.r = conn, bufio.NewReader(conn)
	return worker.Record(ctx, "tcp", "connect", time.Since(start), 0, nil)
}

// OnStop closes the connection.
func (u *EchoUser) OnStop(context.Context) error {
	if u.conn != nil {
		return u.conn.Close()
	}
	return nil
}

// Tasks returns short and long exchanges, short ones four times as often.
func (u *EchoUser) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "short", Weight: 4, Run: func(ctx context.Context) error { return u.echo(ctx, "short", 16) }},
		{Name: "long", Weight: 1, Run: func(ctx context.Context) error { return u.echo(ctx, "long", 4096) }},
	}
}

// echo sends a line of n bytes and checks the reply; a wrong reply is a
// failure, and a broken connection is replaced by a new one.
func (u *EchoUser) echo(ctx context.Context, name string, n int) error {
	if u.conn == nil {
		if err := u.connect(ctx); err != nil {
			return err
		}
	}
	line := strings.Repeat(string(rune('a'+rand.IntN(26))), n) + "\n"
	start := time.Now()
	if deadline, ok := ctx.Deadline(); ok {
		u.conn.SetDeadline(deadline)
	} else {
		u.conn.SetDeadline(start.Add(5 * time.Second))
	}
	// Unblock the read if the user is stopped mid-exchange.
	stop := context.AfterFunc(ctx, func() { u.conn.SetDeadline(time.Now()) })
	defer stop()
	_, err := io.WriteString(u.conn, line)
	var reply string
	if err == nil {
		reply, err = u.r.ReadString('\n')
	}
	switch {
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("exchange cancelled because the user is stopping: %w", err)
	case err == nil && reply != line:
		err = errors.New("echo reply differs from the request")
	}
	if err != nil {
		u.conn.Close()
		u.conn = nil
	}
	return worker.Record(ctx, "tcp", name, time.Since(start), int64(len(reply)), err)
}

// class returns the user class, named as in locustfile.py, for users
// that talk to addr.
func class(addr func() string) *worker.UserClass {
	return worker.Class("EchoUser", func() *EchoUser { return &EchoUser{addr: addr()} }).
		Wait(worker.Between(10*time.Millisecond, 50*time.Millisecond)).Options(echoAddr)
}

// echoServer is a line echo server; it counts the lines it echoed.
type echoServer struct {
	l     net.Listener
	lines chan int
}

// startEcho serves on 127.0.0.1 until ctx is done.
func startEcho(ctx context.Context) (*echoServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &echoServer{l: l, lines: make(chan int, 1)}
	s.lines <- 0
	context.AfterFunc(ctx, func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s, nil
}

func (s *echoServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(conn, line); err != nil {
			return
		}
		s.lines <- <-s.lines + 1
	}
}

// served returns how many lines were echoed.
func (s *echoServer) served() int {
	n := <-s.lines
	s.lines <- n
	return n
}

func (s *echoServer) addr() string { return s.l.Addr().String() }

func main() {
	ctx, stop := worker.SignalContext(context.Background(), os.Stderr) // a second signal exits at once
	srv, err := startEcho(ctx)
	if err != nil {
		log.Fatal(err)
	}
	addr := func() string {
		if a := echoAddr.Value(); a != "" {
			return a
		}
		return srv.addr()
	}
	code := worker.RunCommand(ctx, os.Args[1:], os.Stdout, os.Stderr, class(addr))
	stop()
	os.Exit(code)
}
