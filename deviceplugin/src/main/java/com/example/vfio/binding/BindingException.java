package com.example.vfio.binding;

/** A binding step that cannot go on for one device; the message says why, for the admin. */
public class BindingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BindingException(String message) {
        super(message);
    }

    public BindingException(String message, Throwable cause) {
        super(message, cause);
    }
}
