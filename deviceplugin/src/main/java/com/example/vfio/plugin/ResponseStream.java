package com.example.vfio.plugin;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One open server stream (ListAndWatch, the DRA health watch) that several threads send on: gRPC's stream observers
 * are not thread-safe, so sends are serialized here, and a stream the peer went away from stops quietly.
 *
 * @param <T> the message type
 */
public final class ResponseStream<T> {
    private final ServerCallStreamObserver<T> observer;
    private final java.util.function.Consumer<ResponseStream<T>> onBroken;
    private boolean done;

    /** @param onBroken told (once) when a send fails, with this stream: the caller forgets it */
    @SuppressWarnings("unchecked")
    public ResponseStream(StreamObserver<?> observer, java.util.function.Consumer<ResponseStream<T>> onBroken) {
        this.observer = (ServerCallStreamObserver<T>) observer;
        this.onBroken = onBroken;
    }

    /** Runs when the peer cancels the call. */
    public void onCancel(Runnable r) {
        observer.setOnCancelHandler(r);
    }

    public synchronized void send(T message) {
        if (done || observer.isCancelled()) {
            return;
        }
        try {
            observer.onNext(message);
        } catch (RuntimeException e) {
            done = true;
            onBroken.accept(this);
        }
    }

    public synchronized void complete() {
        if (!done && !observer.isCancelled()) {
            done = true;
            try {
                observer.onCompleted();
            } catch (RuntimeException ignored) {
                // the call is already gone
            }
        }
    }
}
