package com.example.vfio.binding;

import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Writes a sysfs attribute the way {@code echo value > attr} does: open without creating or
 * truncating, one write(2) of the whole value. The kernel's refusal comes back as the errno of that
 * write, which Java only gives as the strerror text; it is mapped back here.
 */
public final class FileSysfsWriter implements SysfsWriter {
    @Override
    public void write(PciAddress device, Path file, String value) throws SysfsWriteException {
        byte[] bytes = value.getBytes(StandardCharsets.US_ASCII);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            int written = channel.write(ByteBuffer.wrap(bytes));
            if (written != bytes.length) {
                throw new SysfsWriteException(Errno.EIO, "writing '" + printable(value) + "' to " + file + " for "
                        + device + ": the kernel took " + written + " of " + bytes.length + " bytes");
            }
        } catch (NoSuchFileException e) {
            throw new SysfsWriteException(Errno.ENODEV, file + " does not exist: " + device + " is gone or the driver"
                    + " was unloaded");
        } catch (IOException e) {
            throw new SysfsWriteException(errnoOf(e), "writing '" + printable(value) + "' to " + file + " for " + device
                    + " failed: " + e.getMessage());
        }
    }

    /** The kernel's errno from the strerror text Java puts in the message. */
    static Errno errnoOf(IOException e) {
        String message = e.getMessage() == null ? "" : e.getMessage().toLowerCase(Locale.ROOT);
        if (message.contains("device or resource busy")) {
            return Errno.EBUSY;
        }
        if (message.contains("no such device")) {
            return Errno.ENODEV;
        }
        if (message.contains("invalid argument")) {
            return Errno.EINVAL;
        }
        return Errno.EIO;
    }

    static String printable(String value) {
        return value.replace("\n", "\\n");
    }
}
