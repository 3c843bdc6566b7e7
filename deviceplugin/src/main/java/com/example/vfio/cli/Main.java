package com.example.vfio.cli;

/** Entry point of {@code bin/vfio-node}; the subcommands arrive with the inspector. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.err.println("vfio-node: no command yet");
        System.exit(2);
    }
}
