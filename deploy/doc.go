// Package deploy holds the deployment files of golocust workers: the Compose
// file (compose.yaml) and the Kubernetes manifests (kubernetes/) that run
// Locust's master image and N workers built by the repository's Dockerfile.
// docs/deploy.md is their guide.
//
// The package has no code: its tests (deploy_test.go and its siblings)
// parse every manifest strictly, check that the workers name the master's
// address, run as non-root and are sized, check the Dockerfile against the
// guide, and run the guide's chart library and build commands to build a
// worker, write an --html report with it and start it.
package deploy
