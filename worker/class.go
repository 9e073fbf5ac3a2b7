package worker

// This file owns user classes: UserClass, built with Class and its
// setters, and the checks a run makes of them before any user starts.
// Options attaches custom options (options.go).

import (
	"fmt"
	"regexp"
)

// UserClass describes a kind of user: the name the Locust master knows it
// by, its weight, how to make a new user and how long users wait between
// tasks. Build one with [Class].
type UserClass struct {
	name       string
	weight     int
	fixedCount int
	host       string
	wait       WaitTime
	newUser    func() User
	options    []option
	hooks      []*Hooks
	perUser    bool // ConnectionPerUser
}

// Class returns a user class named name (the class name in the master's
// locustfile) whose users are made by newUser, one call per user.
// The class starts with weight 1 and no wait between tasks.
func Class[U User](name string, newUser func() U) *UserClass {
	return &UserClass{
		name:    name,
		weight:  1,
		newUser: func() User { return newUser() },
	}
}

// Weight sets the class's share of users when counts come from weights
// (standalone mode; a master computes counts itself). It returns c.
func (c *UserClass) Weight(w int) *UserClass {
	c.weight = w
	return c
}

// FixedCount makes standalone mode run exactly n users of this class,
// before weights share out the rest, like Locust's fixed_count. It returns c.
func (c *UserClass) FixedCount(n int) *UserClass {
	c.fixedCount = n
	return c
}

// Host sets the base URL this class's HTTP clients use unless a master or
// the --host flag gives another. It returns c.
func (c *UserClass) Host(url string) *UserClass {
	c.host = url
	return c
}

// Wait sets the time users of this class wait after each task. It returns c.
func (c *UserClass) Wait(w WaitTime) *UserClass {
	c.wait = w
	return c
}

// ConnectionPerUser gives each user of this class HTTP connections of its
// own, as each Python Locust user has, instead of the keep-alive
// connections all users share by default: a user keeps its connection
// between requests and closes it when it exits. It is for tests of a
// server's connection limits; each connected user then holds a file
// descriptor. [HTTPOptions].ConnectionPerUser (--connection-per-user) does
// the same for every class. It returns c.
func (c *UserClass) ConnectionPerUser() *UserClass {
	c.perUser = true
	return c
}

// Name returns the class name.
func (c *UserClass) Name() string { return c.name }

var classNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateClasses checks that classes can be told apart by name and are
// usable; it is called before any user starts.
func validateClasses(classes []*UserClass) (map[string]*UserClass, error) {
	if len(classes) == 0 {
		return nil, fmt.Errorf("worker: no user classes")
	}
	byName := make(map[string]*UserClass, len(classes))
	for _, c := range classes {
		switch {
		case c == nil:
			return nil, fmt.Errorf("worker: nil user class")
		case !classNamePattern.MatchString(c.name):
			return nil, fmt.Errorf("worker: user class name %q is not a Python identifier like the master's class names", c.name)
		case c.newUser == nil:
			return nil, fmt.Errorf("worker: user class %s has no constructor", c.name)
		case c.weight < 0 || c.fixedCount < 0:
			return nil, fmt.Errorf("worker: user class %s has a negative weight or fixed count", c.name)
		}
		if _, dup := byName[c.name]; dup {
			return nil, fmt.Errorf("worker: user class %s is declared twice", c.name)
		}
		byName[c.name] = c
	}
	return byName, nil
}
