import { BOOT_VARIABLES, placeholder, psQuote } from "./template.ts";
import { SERVICE_WRAPPER_SOURCE } from "./windows-service.ts";
import { BOOT_PATHS, WORKER_SERVICE, defaultWorkRoot, workerEnvironment, type WorkerBoot } from "./worker-boot.ts";

/**
 * The PowerShell user data of a Windows worker (EC2Launch runs it once, as Administrator).
 * It uses only what AWS Windows AMIs ship: Windows PowerShell 5.1, the AWS Tools for PowerShell
 * (`Read-S3Object`, `Stop-ASInstanceInAutoScalingGroup`) and the .NET Framework compiler.
 */
export function renderWindowsBoot(boot: WorkerBoot): string {
  const paths = BOOT_PATHS.windows;
  const env = workerEnvironment(boot)
    .map(([k, v]) => `  ${psQuote(`${k}=${v}`)}`)
    .join("\n");
  return String.raw`<powershell>
# spotq worker bootstrap (rendered by infra/user-data/windows.ts)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$Region = ${psQuote(boot.region)}
$ArtifactsBucket = ${psQuote(placeholder(BOOT_VARIABLES.artifactsBucket))}
$WorkerKey = ${psQuote(boot.workerKey)}
$ConfigKey = ${psQuote(boot.configKey)}
$NodeMajor = ${boot.nodeMajor}
$ServiceName = ${psQuote(WORKER_SERVICE)}
$SpotqHome = ${psQuote(paths.home)}
$WorkerFile = ${psQuote(paths.worker)}
$ConfigFile = ${psQuote(paths.config)}
$LogFile = ${psQuote(paths.log)}
$WorkRoot = ${psQuote(boot.workRoot ?? defaultWorkRoot("windows"))}
$WorkerEnvironment = @(
${env}
)
$ServiceSource = @'
${SERVICE_WRAPPER_SOURCE}'@

New-Item -ItemType Directory -Force -Path $SpotqHome, $WorkRoot | Out-Null
Start-Transcript -Path (Join-Path $SpotqHome 'bootstrap.log') -Append | Out-Null

function Get-ImdsValue([string]$Path) {
  $token = Invoke-RestMethod -UseBasicParsing -Method Put -Uri 'http://169.254.169.254/latest/api/token' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }
  Invoke-RestMethod -UseBasicParsing -Uri ('http://169.254.169.254/latest/' + $Path) -Headers @{ 'X-aws-ec2-metadata-token' = $token }
}

function Get-NodeMajor([string]$Exe) {
  if (-not $Exe) { return 0 }
  try { return [int]((& $Exe --version).Trim().TrimStart('v').Split('.')[0]) } catch { return 0 }
}

# The latest release of the configured major from nodejs.org, checked against its SHASUMS256.txt.
function Install-Node {
  $base = 'https://nodejs.org/dist/latest-v{0}.x' -f $NodeMajor
  $sums = (Invoke-WebRequest -UseBasicParsing -Uri ($base + '/SHASUMS256.txt')).Content
  $entry = $sums -split '\r?\n' | Where-Object { $_ -match '^[0-9a-f]{64}\s+node-v[0-9.]+-win-x64\.zip$' } | Select-Object -First 1
  if (-not $entry) { throw ('no win-x64 zip is listed in ' + $base + '/SHASUMS256.txt') }
  $hash, $file = $entry -split '\s+'
  $zip = Join-Path $env:TEMP $file
  Invoke-WebRequest -UseBasicParsing -Uri ($base + '/' + $file) -OutFile $zip
  if ((Get-FileHash -Algorithm SHA256 -Path $zip).Hash -ne $hash) { throw ('checksum mismatch for ' + $file) }
  Expand-Archive -Path $zip -DestinationPath $SpotqHome -Force
  Remove-Item -Path $zip
  return Join-Path (Join-Path $SpotqHome ($file -replace '\.zip$', '')) 'node.exe'
}

try {
  [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

  # 1. Node.js: the AMI's own when it is 22 or newer, else installed from nodejs.org.
  $NodeExe = $null
  $found = Get-Command node.exe -ErrorAction SilentlyContinue
  if ($found) { $NodeExe = $found.Source }
  if ((Get-NodeMajor $NodeExe) -lt 22) { $NodeExe = Install-Node }
  Write-Output ('spotq: node ' + (& $NodeExe --version) + ' at ' + $NodeExe)

  # 2. The worker bundle and the fleet config, from the artifacts bucket.
  Read-S3Object -BucketName $ArtifactsBucket -Key $WorkerKey -File $WorkerFile -Region $Region | Out-Null
  Read-S3Object -BucketName $ArtifactsBucket -Key $ConfigKey -File $ConfigFile -Region $Region | Out-Null

  # 3. The worker as a service with its environment, restarted by Windows whenever it fails.
  $Wrapper = Join-Path $SpotqHome 'spotq-worker-service.exe'
  Add-Type -TypeDefinition $ServiceSource -Language CSharp -ReferencedAssemblies 'System.ServiceProcess' -OutputAssembly $Wrapper -OutputType ConsoleApplication
  if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    Stop-Service -Name $ServiceName -Force
    & sc.exe delete $ServiceName | Out-Null
  }
  $binaryPath = '"{0}" "{1}" "{2}" "{3}"' -f $Wrapper, $NodeExe, $WorkerFile, $LogFile
  New-Service -Name $ServiceName -BinaryPathName $binaryPath -DisplayName 'spotq worker' -Description 'Runs spotq jobs from the queue' -StartupType Automatic | Out-Null
  Set-ItemProperty -Path ('HKLM:\SYSTEM\CurrentControlSet\Services\' + $ServiceName) -Name Environment -Type MultiString -Value $WorkerEnvironment
  # Restart 10 s after every failure (the count resets after a day); a non-zero exit is a failure too.
  & sc.exe failure $ServiceName reset= 86400 actions= restart/10000/restart/10000/restart/10000 | Out-Null
  & sc.exe failureflag $ServiceName 1 | Out-Null
  Start-Service -Name $ServiceName
  Write-Output 'spotq: worker service started'
} catch {
  Write-Output ('spotq: bootstrap failed: ' + $_)
  # New instances are protected from scale-in: one that cannot run the worker would idle (and bill) forever.
  try {
    $instanceId = Get-ImdsValue 'meta-data/instance-id'
    Stop-ASInstanceInAutoScalingGroup -InstanceId $instanceId -ShouldDecrementDesiredCapacity $true -Region $Region -Force | Out-Null
    Write-Output ('spotq: asked Auto Scaling to terminate ' + $instanceId)
  } catch {
    Write-Output ('spotq: self-termination failed, shutting down (the launch template terminates on shutdown): ' + $_)
    Stop-Computer -Force
  }
  exit 1
} finally {
  Stop-Transcript | Out-Null
}
</powershell>
<persist>false</persist>
`;
}
