package worker

// This file owns the order in which a standalone run (standalone.go)
// starts users of several classes: Locust's dispatcher order for one
// process. A worker's master dispatches; its spawn messages carry counts.

import (
	"cmp"
	"math"
	"slices"
)

// userSequence returns a function yielding the class of each next user to
// start, in the order Locust's dispatcher (locust/dispatch.py, _user_gen)
// yields them for one process starting from zero users: classes with a
// fixed count first, until each has its count, then the others cycled in a
// smooth weighted round-robin. Classes are taken in name order, as Locust
// sorts them. The function returns nil when no class can take users.
func userSequence(classes []*UserClass) func() *UserClass {
	sorted := slices.SortedFunc(slices.Values(classes), func(a, b *UserClass) int { return cmp.Compare(a.name, b.name) })
	var fixed, weighted []*UserClass
	remaining := map[*UserClass]int{}
	for _, c := range sorted {
		switch {
		case c.fixedCount > 0:
			fixed = append(fixed, c)
			remaining[c] = c.fixedCount
		case c.weight > 0:
			weighted = append(weighted, c)
		}
	}
	fixedCycle := cycleOf(fixed, func(c *UserClass) int { return c.fixedCount })
	weightedCycle := cycleOf(weighted, func(c *UserClass) int { return c.weight })
	fixedLeft := len(fixed)
	return func() *UserClass {
		for fixedLeft > 0 {
			c := fixedCycle()
			if remaining[c] > 0 {
				remaining[c]--
				if remaining[c] == 0 {
					fixedLeft--
				}
				return c
			}
		}
		if weightedCycle == nil {
			return nil
		}
		return weightedCycle()
	}
}

// cycleOf repeats one period of a smooth weighted round-robin over
// classes, with values normalised so the smallest is 2, as Locust does.
func cycleOf(classes []*UserClass, value func(*UserClass) int) func() *UserClass {
	if len(classes) == 0 {
		return nil
	}
	smallest := value(classes[0])
	for _, c := range classes {
		smallest = min(smallest, value(c))
	}
	weights := make([]int, len(classes))
	period := 0
	for i, c := range classes {
		weights[i] = int(math.RoundToEven(2 * float64(value(c)) / float64(smallest)))
		period += weights[i]
	}
	next := smoothRoundRobin(weights)
	order := make([]*UserClass, period)
	for i := range order {
		order[i] = classes[next()]
	}
	i := 0
	return func() *UserClass {
		c := order[i]
		i = (i + 1) % len(order)
		return c
	}
}

// smoothRoundRobin is nginx's smooth weighted round-robin, as in the
// roundrobin package Locust uses: it returns indexes into weights.
func smoothRoundRobin(weights []int) func() int {
	current := make([]int, len(weights))
	total := 0
	for _, w := range weights {
		total += w
	}
	return func() int {
		if len(weights) == 1 {
			return 0
		}
		best := -1
		for i, w := range weights {
			current[i] += w
			if best < 0 || current[best] < current[i] {
				best = i
			}
		}
		current[best] -= total
		return best
	}
}

// classCounts returns how many users of each class Locust would run for
// n users in one process.
func classCounts(classes []*UserClass, n int) map[string]int64 {
	counts := make(map[string]int64, len(classes))
	for _, c := range classes {
		counts[c.name] = 0
	}
	next := userSequence(classes)
	for range n {
		c := next()
		if c == nil {
			break
		}
		counts[c.name]++
	}
	return counts
}
