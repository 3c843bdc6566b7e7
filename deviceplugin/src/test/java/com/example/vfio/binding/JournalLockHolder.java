package com.example.vfio.binding;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A second process holding the binding lock, as a running vfio-node would: prints "locked", holds it until stdin closes. */
public final class JournalLockHolder {
    private JournalLockHolder() {
    }

    public static void main(String[] args) throws IOException {
        try (FileChannel channel = FileChannel.open(Path.of(args[0]), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = channel.lock()) {
            System.out.println("locked");
            System.out.flush();
            System.in.read();
        }
    }
}
