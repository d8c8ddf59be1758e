/**
 * C# source of the Windows service that runs the worker. node.exe cannot answer the service
 * control manager itself, and AWS Windows AMIs ship no service host for it (no NSSM, no WinSW),
 * but every Windows ships the .NET Framework compiler that PowerShell's `Add-Type` drives; so the
 * bootstrap compiles this into `spotq-worker-service.exe`.
 *
 * Arguments (from the service's binary path): node.exe, the worker script, the log file. The
 * worker's output goes to the log file (its job logs go to CloudWatch itself). When the worker
 * stops in order (exit code 0: idle self-termination, a Spot notice) the service stops with it, as
 * the instance is going away; when it fails (any other code), the wrapper ends without reporting
 * SERVICE_STOPPED, which the service control manager counts as a failure and answers with the
 * recovery action: restart. A stop or shutdown ends the worker and everything it spawned.
 *
 * C# 5 only (the compiler Windows PowerShell 5.1 uses): no string interpolation, no `?.`.
 */
export const SERVICE_WRAPPER_SOURCE = `using System;
using System.Diagnostics;
using System.IO;
using System.ServiceProcess;

public class SpotqWorkerService : ServiceBase
{
    private const long MaxLogBytes = 50L * 1024 * 1024;
    private readonly string node;
    private readonly string script;
    private readonly string logFile;
    private readonly object logLock = new object();
    private StreamWriter log;
    private Process child;
    private volatile bool stopping;

    public SpotqWorkerService(string node, string script, string logFile)
    {
        ServiceName = "spotq-worker";
        CanStop = true;
        CanShutdown = true;
        this.node = node;
        this.script = script;
        this.logFile = logFile;
    }

    public static void Main(string[] args)
    {
        if (args.Length != 3) throw new ArgumentException("usage: spotq-worker-service <node.exe> <worker.mjs> <log file>");
        ServiceBase.Run(new SpotqWorkerService(args[0], args[1], args[2]));
    }

    protected override void OnStart(string[] startArgs)
    {
        if (File.Exists(logFile) && new FileInfo(logFile).Length > MaxLogBytes)
        {
            File.Copy(logFile, logFile + ".1", true);
            File.Delete(logFile);
        }
        log = new StreamWriter(logFile, true);
        log.AutoFlush = true;
        child = new Process();
        child.StartInfo = new ProcessStartInfo(node, "\\"" + script + "\\"");
        child.StartInfo.UseShellExecute = false;
        child.StartInfo.CreateNoWindow = true;
        child.StartInfo.RedirectStandardOutput = true;
        child.StartInfo.RedirectStandardError = true;
        child.StartInfo.WorkingDirectory = Path.GetDirectoryName(script);
        child.EnableRaisingEvents = true;
        child.OutputDataReceived += (sender, e) => Write(e.Data);
        child.ErrorDataReceived += (sender, e) => Write(e.Data);
        child.Exited += (sender, e) =>
        {
            if (stopping) return;
            int code = child.ExitCode;
            if (code == 0)
            {
                // An orderly stop (idle self-termination, Spot notice): the instance is going away.
                Write("spotq-worker-service: the worker stopped; stopping the service");
                Stop();
                return;
            }
            Write("spotq-worker-service: the worker failed with code " + code + "; failing so that Windows restarts the service");
            Environment.Exit(1);
        };
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        Write("spotq-worker-service: started the worker, pid " + child.Id);
    }

    protected override void OnStop()
    {
        Halt();
    }

    protected override void OnShutdown()
    {
        Halt();
    }

    private void Halt()
    {
        stopping = true;
        if (child != null && !child.HasExited)
        {
            Write("spotq-worker-service: stopping the worker and its processes");
            ProcessStartInfo kill = new ProcessStartInfo("taskkill.exe", "/PID " + child.Id + " /T /F");
            kill.UseShellExecute = false;
            kill.CreateNoWindow = true;
            using (Process killer = Process.Start(kill)) { killer.WaitForExit(30000); }
            child.WaitForExit(30000);
        }
        lock (logLock)
        {
            if (log != null) { log.Dispose(); log = null; }
        }
    }

    private void Write(string line)
    {
        if (line == null) return;
        lock (logLock)
        {
            if (log != null) log.WriteLine(DateTime.UtcNow.ToString("o") + " " + line);
        }
    }
}
`;
