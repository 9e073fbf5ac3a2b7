module github.com/golocust/golocust

go 1.26

require (
	github.com/go-zeromq/zmq4 v0.17.0
	github.com/ugorji/go/codec v1.3.2
)

require (
	github.com/go-zeromq/goczmq/v4 v4.2.2 // indirect
	golang.org/x/sync v0.7.0 // indirect
	golang.org/x/text v0.15.0 // indirect
)
