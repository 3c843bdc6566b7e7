package com.example.vfio.plugin;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * gRPC over unix sockets with the shaded Netty epoll transport. One instance owns the event loop and the
 * call executor that every server and channel of the daemon shares, so restarting servers (a kubelet
 * restart) creates no threads.
 */
public final class UnixSockets implements AutoCloseable {

    private final EventLoopGroup loop;
    private final ExecutorService executor;

    public UnixSockets(String threadPrefix) {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("unix sockets need the netty epoll transport (linux x86_64 or aarch64): "
                    + Epoll.unavailabilityCause());
        }
        this.loop = new MultiThreadIoEventLoopGroup(2, daemonThreads(threadPrefix + "-io"), EpollIoHandler.newFactory());
        ThreadPoolExecutor pool = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                daemonThreads(threadPrefix + "-grpc"));
        pool.allowCoreThreadTimeOut(false);
        this.executor = pool;
    }

    /** Serves the services on a new socket file; the caller removes any stale file first. */
    public Server serve(Path socket, BindableService... services) {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(loop)
                .workerEventLoopGroup(loop)
                .executor(executor);
        for (BindableService s : services) {
            builder.addService(s);
        }
        try {
            return builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve on " + socket + ": " + e.getMessage(), e);
        }
    }

    /** A channel to a unix socket; each (re)connect opens the path anew, so a recreated socket is found. */
    public ManagedChannel dial(Path socket) {
        return NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
                .eventLoopGroup(loop)
                .executor(executor)
                .usePlaintext()
                .build();
    }

    @Override
    public void close() {
        executor.shutdownNow();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    public static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public static void shutdown(ManagedChannel channel) {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static void shutdown(Server server) {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
