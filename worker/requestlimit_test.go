package worker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestNextLimit(t *testing.T) {
	tests := []struct {
		name                string
		limit, max, waiting int
		behind              bool
		want                int
	}{
		{"nobody waits", 64, 1000, 0, false, 64},
		{"requests wait, worker keeps up", 64, 1000, 5, false, 96},
		{"requests wait, worker behind", 64, 1000, 5, true, 64},
		{"up to the bound", 900, 1000, 5, false, 1000},
		{"at the bound", 1000, 1000, 5, false, 1000},
	}
	for _, tt := range tests {
		if got := nextLimit(tt.limit, tt.max, tt.waiting, tt.behind); got != tt.want {
			t.Errorf("%s: nextLimit(%d, %d, %d, %v) = %d, want %d", tt.name, tt.limit, tt.max, tt.waiting, tt.behind, got, tt.want)
		}
	}
}

func TestIsBehind(t *testing.T) {
	tests := []struct {
		cpu      float64
		runnable uint64
		procs    int
		want     bool
	}{
		{cpu: 50, runnable: 3, procs: 1, want: false},
		{cpu: 84, runnable: 63, procs: 1, want: false},
		{cpu: 85, runnable: 0, procs: 1, want: true},
		{cpu: 0, runnable: 64, procs: 1, want: true},
		{cpu: 160, runnable: 100, procs: 2, want: false}, // two CPUs: 170 % and 128 runnable
		{cpu: 170, runnable: 0, procs: 2, want: true},
		{cpu: 0, runnable: 128, procs: 2, want: true},
		{cpu: 90, runnable: 0, procs: 0, want: true}, // GOMAXPROCS is at least 1
	}
	for _, tt := range tests {
		if got := isBehind(tt.cpu, tt.runnable, tt.procs); got != tt.want {
			t.Errorf("isBehind(%v, %d, %d) = %v, want %v", tt.cpu, tt.runnable, tt.procs, got, tt.want)
		}
	}
}

// fakeLimit returns a limit of n places on a made-up clock, whose worker
// is behind when *behind is.
func fakeLimit(n, max int, now *time.Time, behind *bool) *requestLimit {
	l := newRequestLimit(max)
	l.limit = n
	l.now = func() time.Time { return *now }
	l.behind = func(time.Time) bool { return *behind }
	return l
}

// acquireAsync starts acquiring a place and returns the channel that gets
// the result.
func acquireAsync(ctx context.Context, l *requestLimit) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.acquire(ctx, time.Time{}) }()
	return done
}

// waitLine waits until n requests wait in l's line.
func waitLine(t *testing.T, l *requestLimit, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		l.mu.Lock()
		got := l.line.Len()
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in line, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRequestLimitLine(t *testing.T) {
	now, behind := time.Unix(1000, 0), true
	l := fakeLimit(2, 100, &now, &behind)
	ctx := context.Background()
	for range 2 {
		if err := l.acquire(ctx, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	third := acquireAsync(ctx, l)
	waitLine(t, l, 1)
	select {
	case <-third:
		t.Fatal("a third request got a place beyond the limit of 2 while the worker is behind")
	default:
	}
	l.release()
	if err := receive(t, third); err != nil {
		t.Fatal(err)
	}
	if l.inFlight != 2 || l.line.Len() != 0 {
		t.Fatalf("in flight %d, line %d; want 2 and 0", l.inFlight, l.line.Len())
	}
}

func TestRequestLimitGrowsOnlyWhileTheWorkerKeepsUp(t *testing.T) {
	now, behind := time.Unix(1000, 0), true
	l := fakeLimit(2, 100, &now, &behind)
	ctx := context.Background()
	for range 2 {
		_ = l.acquire(ctx, time.Time{})
	}
	waiting := []<-chan error{acquireAsync(ctx, l), acquireAsync(ctx, l)}
	waitLine(t, l, 2)

	l.mu.Lock()
	now = now.Add(lookEvery)
	l.lookLocked(now) // behind: no growth
	if l.limit != 2 {
		t.Errorf("limit %d after a look while behind, want 2", l.limit)
	}
	behind = false
	l.lookLocked(now.Add(lookEvery / 2)) // too soon to look again
	if l.limit != 2 {
		t.Errorf("limit %d after a look within lookEvery, want 2", l.limit)
	}
	now = now.Add(calmFor - time.Millisecond)
	l.lookLocked(now) // calm, but not for calmFor yet
	if l.limit != 2 {
		t.Errorf("limit %d after a calm look %s after a behind one, want 2", l.limit, calmFor-time.Millisecond)
	}
	now = now.Add(lookEvery)
	l.lookLocked(now) // 2 × 1.5 = 3 places: one of the two gets in
	if l.limit != 3 || l.inFlight != 3 || l.line.Len() != 1 {
		t.Errorf("limit %d, in flight %d, line %d; want 3, 3, 1", l.limit, l.inFlight, l.line.Len())
	}
	now = now.Add(lookEvery)
	l.lookLocked(now) // 5 places
	l.mu.Unlock()
	for _, w := range waiting {
		if err := receive(t, w); err != nil {
			t.Fatal(err)
		}
	}
	if l.limit != 5 || l.inFlight != 4 {
		t.Errorf("limit %d, in flight %d; want 5 and 4", l.limit, l.inFlight)
	}
}

// receive returns what done gets, failing the test after 10 s.
func receive(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no result after 10 s")
		return nil
	}
}

func TestRequestLimitWaiterGivesUp(t *testing.T) {
	now, behind := time.Unix(1000, 0), true
	l := fakeLimit(1, 100, &now, &behind)
	_ = l.acquire(context.Background(), time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := acquireAsync(ctx, l)
	waitLine(t, l, 1)
	cancel()
	if err := receive(t, gaveUp); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire = %v, want context.Canceled", err)
	}
	l.release()
	if l.inFlight != 0 || l.line.Len() != 0 {
		t.Fatalf("in flight %d, line %d after the only request ended; want 0 and 0", l.inFlight, l.line.Len())
	}
}

func TestRequestLimitLooksAgainWhileRequestsWait(t *testing.T) {
	// The only request in flight never ends; the waiting one gets a place
	// when a timer's look finds the worker keeping up.
	l := newRequestLimit(100)
	l.limit = 1
	l.behind = func(time.Time) bool { return false }
	_ = l.acquire(context.Background(), time.Time{})
	l.lookedAt = time.Now().Add(time.Hour) // the acquire below cannot look itself
	waiting := acquireAsync(context.Background(), l)
	waitLine(t, l, 1)
	l.mu.Lock()
	l.lookedAt = time.Time{}
	l.mu.Unlock()
	select {
	case err := <-waiting:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting request never got a place: nothing looked again")
	}
}

func TestLimitedTransportHoldsPlaceUntilBodyClosed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/end", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	l := newRequestLimit(100)
	l.behind = func(time.Time) bool { return true }
	l.limit = 1
	client := &http.Client{Transport: &limitedTransport{rt: srv.Client().Transport, limit: l}}
	resp, err := client.Get(srv.URL + "/hop")
	if err != nil {
		t.Fatal(err)
	}
	if l.inFlight != 1 {
		t.Errorf("in flight %d with a body open after a redirect, want 1", l.inFlight)
	}
	resp.Body.Close()
	resp.Body.Close() // a second close gives nothing back twice
	if l.inFlight != 0 {
		t.Errorf("in flight %d after the body was closed, want 0", l.inFlight)
	}
}

func TestLimitedTransportBoundsConcurrency(t *testing.T) {
	var mu sync.Mutex
	var now, peak int
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now++
		peak = max(peak, now)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		now--
		mu.Unlock()
	}))
	defer srv.Close()
	l := newRequestLimit(100)
	l.behind = func(time.Time) bool { return true } // never grows
	l.limit = 3
	client := &http.Client{Transport: &limitedTransport{rt: srv.Client().Transport, limit: l}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if resp, err := client.Get(srv.URL); err == nil {
				resp.Body.Close()
			}
		})
	}
	for range 3 {
		<-arrived
	}
	waitLine(t, l, 7)
	close(release)
	wg.Wait()
	if peak != 3 {
		t.Errorf("the server saw at most %d requests at once, want the limit of 3", peak)
	}
}

func TestRequestLimitMeetsASlowTarget(t *testing.T) {
	// A target that answers only once 300 requests are in at once: the
	// limit, starting at 64 and measuring this idle test process, must grow
	// to let them all in.
	const want = 300
	var mu sync.Mutex
	in := 0
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if in++; in == want {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	conns := newConnections(HTTPOptions{})
	client := &http.Client{Transport: conns.sharedHTTP()}
	var wg sync.WaitGroup
	codes := make(chan int, want)
	for range want {
		wg.Go(func() {
			resp, err := client.Get(srv.URL)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Fatalf("a request got %d: the limit never let %d requests in at once", code, want)
		}
	}
}
